//! SQLite's own page cache, wrapped to skip a truncation that has nothing to
//! drop: without it, most commits under load walked the writer's whole
//! page cache.
//!
//! When SQLite rebalances a b-tree it may swap two new pages' numbers, and
//! parks one of them for a moment at the lock-byte page's number (262,145
//! for 4 KiB pages; `balance_nonroot`). Its default cache remembers the
//! largest number it ever held, and at the end of every transaction
//! truncates itself to the database's size: with the remembered maximum
//! far above that size, the truncation visits every page in the cache (up
//! to 32 MiB of them here, a cache miss each) and drops none. Under webhook
//! load that was 6.8 % of the writer thread's time.
//!
//! The wrapper passes every call to SQLite's cache and keeps, per cache, an
//! upper bound of the page numbers it holds, raised by every fetch and
//! every renumbering except to the parked number (which the same rebalance
//! always renumbers away before it returns). A truncation whose limit is
//! above that bound is skipped; any other runs, and lowers the bound.
//!
//! Must never: skip a truncation that would drop a page, or change which
//! pages SQLite reads and writes. It is installed once per process, before
//! the first connection opens; if SQLite was already initialised by then
//! (another connection in this process came first), SQLite refuses the
//! configuration and its cache runs unwrapped, as before.

use rusqlite::ffi;
use std::os::raw::{c_int, c_uint, c_void};
use std::sync::OnceLock;

/// SQLite's default `PENDING_BYTE`: the lock-byte page starts there.
const PENDING_BYTE: c_uint = 0x4000_0000;

/// SQLite's own cache methods, called by ours.
struct Inner(ffi::sqlite3_pcache_methods2);
// SAFETY: the methods table is read-only once stored; SQLite's own cache
// may be called from any thread (it serialises itself).
unsafe impl Send for Inner {}
unsafe impl Sync for Inner {}

static INNER: OnceLock<Inner> = OnceLock::new();

/// One wrapped cache (what SQLite holds as a `sqlite3_pcache*`).
struct Cache {
    inner: *mut ffi::sqlite3_pcache,
    /// No page of `inner` has a number above this (a parked page aside).
    max_key: c_uint,
    /// The lock-byte page's number at this cache's page size.
    parked: c_uint,
}

/// Wraps SQLite's page cache, once per process (see the module doc);
/// `true` if this process's connections use the wrapper.
pub(crate) fn install() -> bool {
    static INSTALLED: OnceLock<bool> = OnceLock::new();
    *INSTALLED.get_or_init(|| {
        // SAFETY: both calls are made before SQLite is initialised or are
        // refused by it (SQLITE_MISUSE); GETPCACHE2 fills the struct, and
        // PCACHE2 copies ours.
        unsafe {
            let mut own: ffi::sqlite3_pcache_methods2 = std::mem::zeroed();
            let got = ffi::sqlite3_config(
                ffi::SQLITE_CONFIG_GETPCACHE2,
                &mut own as *mut ffi::sqlite3_pcache_methods2,
            );
            let complete = own.xCreate.is_some()
                && own.xCachesize.is_some()
                && own.xPagecount.is_some()
                && own.xFetch.is_some()
                && own.xUnpin.is_some()
                && own.xRekey.is_some()
                && own.xTruncate.is_some()
                && own.xDestroy.is_some();
            if got != ffi::SQLITE_OK || !complete || INNER.set(Inner(own)).is_err() {
                return false;
            }
            let ours = ffi::sqlite3_pcache_methods2 {
                iVersion: 1,
                pArg: std::ptr::null_mut(),
                xInit: Some(init),
                xShutdown: Some(shutdown),
                xCreate: Some(create),
                xCachesize: Some(cachesize),
                xPagecount: Some(pagecount),
                xFetch: Some(fetch),
                xUnpin: Some(unpin),
                xRekey: Some(rekey),
                xTruncate: Some(truncate),
                xDestroy: Some(destroy),
                xShrink: Some(shrink),
            };
            ffi::sqlite3_config(
                ffi::SQLITE_CONFIG_PCACHE2,
                &ours as *const ffi::sqlite3_pcache_methods2,
            ) == ffi::SQLITE_OK
        }
    })
}

/// Truncations skipped so far in this process: nothing at or above their
/// limit (where SQLite's own cache had a stale maximum, each was a walk of
/// the whole cache). On `/metrics` as
/// `sqlite_page_cache_truncations_skipped_total`.
pub fn truncations_skipped() -> u64 {
    handover_metrics::SQLITE_TRUNCATIONS_SKIPPED.get()
}

fn own() -> &'static ffi::sqlite3_pcache_methods2 {
    &INNER.get().expect("installed before SQLite calls it").0
}

/// # Safety
/// `p` is a pointer `create` returned and `destroy` has not freed.
unsafe fn cache<'a>(p: *mut ffi::sqlite3_pcache) -> &'a mut Cache {
    unsafe { &mut *p.cast::<Cache>() }
}

unsafe extern "C" fn init(_: *mut c_void) -> c_int {
    match own().xInit {
        Some(f) => unsafe { f(own().pArg) },
        None => ffi::SQLITE_OK,
    }
}

unsafe extern "C" fn shutdown(_: *mut c_void) {
    if let Some(f) = own().xShutdown {
        unsafe { f(own().pArg) }
    }
}

unsafe extern "C" fn create(
    sz_page: c_int,
    sz_extra: c_int,
    purgeable: c_int,
) -> *mut ffi::sqlite3_pcache {
    let inner = unsafe { own().xCreate.expect("checked")(sz_page, sz_extra, purgeable) };
    if inner.is_null() {
        return inner;
    }
    let parked = PENDING_BYTE / (sz_page.max(1) as c_uint) + 1;
    Box::into_raw(Box::new(Cache {
        inner,
        max_key: 0,
        parked,
    }))
    .cast()
}

unsafe extern "C" fn cachesize(p: *mut ffi::sqlite3_pcache, n: c_int) {
    unsafe { own().xCachesize.expect("checked")(cache(p).inner, n) }
}

unsafe extern "C" fn pagecount(p: *mut ffi::sqlite3_pcache) -> c_int {
    unsafe { own().xPagecount.expect("checked")(cache(p).inner) }
}

unsafe extern "C" fn fetch(
    p: *mut ffi::sqlite3_pcache,
    key: c_uint,
    create: c_int,
) -> *mut ffi::sqlite3_pcache_page {
    let c = unsafe { cache(p) };
    let page = unsafe { own().xFetch.expect("checked")(c.inner, key, create) };
    // Any page found or made: the bound covers it (the lock-byte page too,
    // which SQLite fetches only to refuse a corrupt file).
    if !page.is_null() && key > c.max_key {
        c.max_key = key;
    }
    page
}

unsafe extern "C" fn unpin(
    p: *mut ffi::sqlite3_pcache,
    page: *mut ffi::sqlite3_pcache_page,
    discard: c_int,
) {
    unsafe { own().xUnpin.expect("checked")(cache(p).inner, page, discard) }
}

unsafe extern "C" fn rekey(
    p: *mut ffi::sqlite3_pcache,
    page: *mut ffi::sqlite3_pcache_page,
    old: c_uint,
    new: c_uint,
) {
    let c = unsafe { cache(p) };
    unsafe { own().xRekey.expect("checked")(c.inner, page, old, new) };
    if new != c.parked && new > c.max_key {
        c.max_key = new;
    }
}

unsafe extern "C" fn truncate(p: *mut ffi::sqlite3_pcache, limit: c_uint) {
    let c = unsafe { cache(p) };
    if limit > c.max_key {
        handover_metrics::SQLITE_TRUNCATIONS_SKIPPED.inc();
        return;
    }
    unsafe { own().xTruncate.expect("checked")(c.inner, limit) };
    c.max_key = limit.saturating_sub(1);
}

unsafe extern "C" fn destroy(p: *mut ffi::sqlite3_pcache) {
    // SAFETY: `p` came from `Box::into_raw` in `create`; SQLite destroys a
    // cache once.
    let c = unsafe { Box::from_raw(p.cast::<Cache>()) };
    unsafe { own().xDestroy.expect("checked")(c.inner) }
}

unsafe extern "C" fn shrink(p: *mut ffi::sqlite3_pcache) {
    if let Some(f) = own().xShrink {
        unsafe { f(cache(p).inner) }
    }
}
