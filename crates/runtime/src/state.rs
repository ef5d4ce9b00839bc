//! The data of one call's `Store`: WASI with nothing granted, wasi:http with
//! the egress hooks, the memory limiter, the capped log sink and captured
//! stderr.
//!
//! Lives as long as one adapter call, or one [`Session`] (the calls about
//! one webhook request); every call starts from [`CallState::begin_call`],
//! which re-arms the per-call limits. It must never hold anything shared
//! with another call or session except the read-only egress configuration.
//!
//! [`Session`]: super::Session

use super::bindings::{v0_1_0, v0_2_0};
use super::clock::CallClock;
use super::egress::{CallLabels, Denial, EgressHooks};
use super::stderr::StderrCapture;
use handover_core::model::LogLevel;
use std::sync::Arc;
use std::time::Instant;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// Memory and table caps for one instance; remembers whether a cap was hit so
/// the outcome can name the cause (wasmtime reports it only as a message).
pub struct Limiter {
    pub memory_bytes: usize,
    pub memory_exceeded: Option<usize>,
}

impl wasmtime::ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_bytes {
            self.memory_exceeded = Some(desired);
            return Err(wasmtime::format_err!(
                "memory limit exceeded: the adapter asked for {desired} bytes of linear memory, the limit is {}",
                self.memory_bytes
            ));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
    }
}

/// Per-call log caps: lines and bytes beyond them are counted, not kept.
pub struct LogSink {
    labels: Arc<CallLabels>,
    max_lines: u32,
    max_bytes: usize,
    pub lines: u32,
    pub bytes: usize,
    pub dropped_lines: u64,
    pub dropped_bytes: u64,
}

impl LogSink {
    pub fn new(labels: Arc<CallLabels>, max_lines: u32, max_bytes: usize) -> Self {
        LogSink {
            labels,
            max_lines,
            max_bytes,
            lines: 0,
            bytes: 0,
            dropped_lines: 0,
            dropped_bytes: 0,
        }
    }

    pub fn write(&mut self, level: LogLevel, message: &str, fields: &[(String, String)]) {
        let size = message.len() + fields.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>();
        if self.lines >= self.max_lines || self.bytes + size > self.max_bytes {
            self.dropped_lines += 1;
            self.dropped_bytes += size as u64;
            return;
        }
        self.lines += 1;
        self.bytes += size;
        let fields = fields
            .iter()
            .map(|(k, v)| format!("{}={v:?}", escape_controls(k)))
            .collect::<Vec<_>>()
            .join(" ");
        let message = escape_controls(message);
        let l = &self.labels;
        macro_rules! emit {
            ($lvl:ident) => {
                tracing::$lvl!(target: "adapter", tenant = %l.tenant, endpoint = %l.endpoint, adapter = %l.adapter, fields = %fields, "{message}")
            };
        }
        match level {
            LogLevel::Trace => emit!(trace),
            LogLevel::Debug => emit!(debug),
            LogLevel::Info => emit!(info),
            LogLevel::Warn => emit!(warn),
            LogLevel::Error => emit!(error),
        }
    }

    /// Start a new call's caps.
    fn reset(&mut self) {
        self.lines = 0;
        self.bytes = 0;
        self.dropped_lines = 0;
        self.dropped_bytes = 0;
    }

    /// Emit one summary line if anything was dropped.
    pub fn finish(&self) {
        if self.dropped_lines > 0 {
            let l = &self.labels;
            tracing::warn!(
                tenant = %l.tenant, endpoint = %l.endpoint, adapter = %l.adapter,
                kept_lines = self.lines, dropped_lines = self.dropped_lines, dropped_bytes = self.dropped_bytes,
                "adapter log truncated by the per-call cap"
            );
        }
    }
}

pub struct CallState {
    /// Built on the guest's first WASI call (see [`CallState::new`]).
    wasi: Option<WasiCtx>,
    table: ResourceTable,
    http: WasiHttpCtx,
    hooks: EgressHooks,
    pub limiter: Limiter,
    pub log: LogSink,
    /// The stderr of `wasi`, once built: the current call's only.
    stderr: Option<StderrCapture>,
    /// The current call's wall deadline and execution count (read and
    /// charged by the epoch callback).
    pub clock: CallClock,
}

/// The WASI context of one call and its captured stderr.
///
/// Nothing granted: no preopened directories, no environment, no
/// arguments, empty stdin, no sockets or name lookups. stdout is discarded;
/// stderr is captured (capped) for failure messages.
fn wasi_ctx() -> (WasiCtx, StderrCapture) {
    let stderr = StderrCapture::default();
    let wasi = WasiCtx::builder()
        .stderr(stderr.clone())
        .allow_ip_name_lookup(false)
        .allow_tcp(false)
        .allow_udp(false)
        .build();
    (wasi, stderr)
}

impl CallState {
    /// The WASI context is created lazily, on the first WASI import the
    /// guest calls (most calls of a compiled Rust adapter make none): its
    /// construction (RNG seeding, clocks, stdio boxes, the stderr pipe) is a
    /// measurable part of a fresh call. What the guest sees is the same
    /// either way: one fresh, ungranted context per call.
    pub fn new(hooks: EgressHooks, limiter: Limiter, log: LogSink) -> Self {
        CallState {
            wasi: None,
            table: ResourceTable::new(),
            http: WasiHttpCtx::new(),
            hooks,
            limiter,
            log,
            stderr: None,
            clock: CallClock::new(Instant::now(), &Default::default()),
        }
    }

    /// Arm the limits of the next call on this state: its deadline and
    /// execution budget, a fresh log cap and egress budget, no recorded
    /// denial or memory overrun, no earlier stderr in its failure messages.
    pub fn begin_call(&mut self, clock: CallClock) {
        self.clock = clock;
        // A previous call's stderr must not end up in this call's failure
        // message, nor use up this call's cap.
        if let Some(stderr) = &self.stderr {
            stderr.clear();
        }
        self.log.reset();
        self.hooks.reset();
        self.limiter.memory_exceeded = None;
    }

    /// The first outgoing request of the current call that egress policy
    /// denied, if any (such a call fails whatever the guest returned).
    pub fn first_denial(&self) -> Option<Denial> {
        self.hooks.first_denial()
    }

    /// The current call's guest stderr as text, trimmed (empty if the guest
    /// never used WASI).
    pub fn stderr_text(&self) -> String {
        self.stderr
            .as_ref()
            .map(StderrCapture::text)
            .unwrap_or_default()
    }
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        if self.wasi.is_none() {
            let (wasi, stderr) = wasi_ctx();
            self.wasi = Some(wasi);
            self.stderr = Some(stderr);
        }
        WasiCtxView {
            ctx: self.wasi.as_mut().expect("built above"),
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for CallState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

/// The contract's `log` import, one implementation per served version.
macro_rules! log_host {
    ($($v:ident),*) => {$(
        impl $v::t::Host for CallState {}

        impl $v::log_if::Host for CallState {
            fn log(&mut self, level: $v::log_if::Level, message: String, fields: Vec<$v::t::KeyValue>) {
                self.log
                    .write($v::log_level(level), &message, &$v::log_fields(fields));
            }
        }
    )*};
}

log_host!(v0_1_0, v0_2_0);

/// An adapter's text as it goes into the host's log: control characters
/// (line breaks, carriage returns, terminal escape sequences) written as
/// escapes (`\\n`, `\\u{1b}`), so the text cannot forge log lines or restyle
/// a terminal. Other characters, Unicode included, are kept as they are.
pub(crate) fn escape_controls(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::escape_controls;

    #[test]
    fn control_characters_are_escaped_and_the_rest_kept() {
        for (given, logged) in [
            ("plain text, ünïcode ✓", "plain text, ünïcode ✓"),
            ("a\nb", "a\\nb"),
            ("a\r\nFORGED", "a\\r\\nFORGED"),
            ("\u{1b}[31mred", "\\u{1b}[31mred"),
            ("tab\there", "tab\\there"),
            ("nul\0", "nul\\0"),
            ("next line\u{85}x", "next line\\u{85}x"),
        ] {
            assert_eq!(escape_controls(given), logged, "{given:?}");
        }
    }
}
