//! The wasmtime engine's configuration: the instance pool (its sizes, how a
//! finished instance's memory is reset) and the layout of guest linear
//! memories in it, with the fallbacks tried when this machine cannot have
//! the preferred one.
//!
//! Memory layout: each pooled linear memory gets a slot of 4 GiB of address
//! space plus a 32 MiB guard ([`MemorySlots::Unchecked`], wasmtime's own
//! default on 64-bit hosts). Every address a 32-bit guest can form then
//! lies inside its own slot, so compiled guest code carries no bounds check
//! per load and store: an access past the memory's current size hits
//! inaccessible pages and traps. Only address space is reserved (no memory
//! is committed until a guest grows into it): about 8 TiB for the default
//! 1,000 instances of x86-64's 128 TiB. Where the process may not reserve
//! that much (`ulimit -v`, a smaller virtual address space), the slot is
//! the memory limit itself, at least 1 GiB, with a 64 KiB guard
//! ([`MemorySlots::Checked`]): compiled code then checks bounds on each
//! access, and a warning says so.
//!
//! Must never: give a slot smaller than the largest memory a guest may be
//! granted (wasmtime refuses such a pool), or fail to start where an older,
//! smaller layout would have started.

use super::RuntimeConfig;
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// Bytes of dirtied linear memory per pooled slot reset in place and kept
/// resident (more is returned to the kernel); covers a Rust adapter's stack,
/// data and a working heap.
const MEMORY_KEEP_RESIDENT: usize = 1 << 20;
/// The same for each table slot.
const TABLE_KEEP_RESIDENT: usize = 64 << 10;

/// How guest linear memories are laid out in the pool (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemorySlots {
    /// 4 GiB of address space plus a 32 MiB guard per memory: no bounds
    /// checks in compiled guest code.
    Unchecked,
    /// The memory limit (at least 1 GiB) plus a 64 KiB guard per memory:
    /// compiled guest code checks bounds on each access.
    Checked,
}

impl MemorySlots {
    /// Address space reserved per memory and its guard, bytes.
    fn reservation(self, cfg: &RuntimeConfig) -> (u64, u64) {
        match self {
            MemorySlots::Unchecked => (4 << 30, 32 << 20),
            MemorySlots::Checked => ((u64::from(cfg.max_memory_mib) << 20).max(1 << 30), 64 << 10),
        }
    }
}

/// The engine for `cfg`, with the memory layout it got: the preferred
/// layout and reset first, then each fallback (a kernel without
/// PAGEMAP_SCAN, an address space too small for the wide slots). If none
/// builds, the error of the last, most conservative one.
pub(super) fn build(cfg: &RuntimeConfig) -> wasmtime::Result<(Engine, MemorySlots)> {
    let resets: &[bool] = if cfg.keep_resident {
        // `Enabled::Yes` refuses to build the engine where the kernel has
        // no PAGEMAP_SCAN; there, keeping the low bytes resident would mean
        // a memset of all of them per call (slower than the default), so
        // the default reset is the fallback.
        &[true, false]
    } else {
        &[false]
    };
    let mut last = None;
    for slots in [MemorySlots::Unchecked, MemorySlots::Checked] {
        for &in_place in resets {
            match Engine::new(&engine_config(cfg, slots, in_place)) {
                Ok(engine) => {
                    if slots == MemorySlots::Checked {
                        warn_checked(cfg, last.as_ref());
                    }
                    return Ok((engine, slots));
                }
                Err(e) => last = Some(e),
            }
        }
    }
    Err(last.expect("at least one configuration was tried"))
}

/// Says that the unchecked layout could not be had (`refused`: why) and
/// what it costs.
fn warn_checked(cfg: &RuntimeConfig, refused: Option<&wasmtime::Error>) {
    let (wide, guard) = MemorySlots::Unchecked.reservation(cfg);
    let gib = (u64::from(memories(cfg)) * (wide + guard)) >> 30;
    let size = if gib >= 1024 {
        format!("{:.1} TiB", gib as f64 / 1024.0)
    } else {
        format!("{gib} GiB")
    };
    tracing::warn!(
        "this process may not reserve {size} of address space for {} guest memories of \
         4 GiB each (`ulimit -v`, or a smaller virtual address space): compiled adapters \
         check bounds on every memory access instead, which is slower; raise the limit or \
         lower `runtime.max_instances` to avoid it ({})",
        memories(cfg),
        refused.map_or(String::new(), |e| format!("{e:#}"))
    );
}

/// Linear memories the pool holds.
fn memories(cfg: &RuntimeConfig) -> u32 {
    cfg.max_instances.max(1) * 2
}

/// The engine configuration; `in_place_reset` turns on
/// [`RuntimeConfig::keep_resident`]'s PAGEMAP_SCAN reset.
fn engine_config(cfg: &RuntimeConfig, slots: MemorySlots, in_place_reset: bool) -> Config {
    let mut pool = PoolingAllocationConfig::new();
    let n = cfg.max_instances.max(1);
    pool.total_component_instances(n)
        .total_core_instances(n * 8)
        .total_memories(memories(cfg))
        .total_tables(n * 4)
        .total_stacks(n)
        .max_core_instances_per_component(64)
        .max_memories_per_component(8)
        .max_tables_per_component(16)
        .max_memory_size((cfg.max_memory_mib as usize) << 20)
        .max_component_instance_size(4 << 20)
        .max_core_instance_size(4 << 20)
        .max_unused_warm_slots(n.min(100));
    if in_place_reset {
        pool.pagemap_scan(Enabled::Yes)
            .linear_memory_keep_resident(MEMORY_KEEP_RESIDENT)
            .table_keep_resident(TABLE_KEEP_RESIDENT);
    }
    let (reservation, guard) = slots.reservation(cfg);
    let mut c = Config::new();
    c.wasm_component_model(true)
        .epoch_interruption(true)
        .consume_fuel(cfg.fuel)
        .max_wasm_stack(1 << 20)
        .memory_reservation(reservation)
        .memory_guard_size(guard)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    c
}
