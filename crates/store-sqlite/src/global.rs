//! SQLite's process-wide configuration, set once before the first
//! connection of the process opens: the wrapped page cache (`pcache`) and
//! no memory statistics.
//!
//! With statistics on (SQLite's default), every allocation and free inside
//! SQLite takes one process-wide mutex to count bytes, shared by the writer,
//! the readers and the checkpointer: with the mutex's twin in the page
//! cache it was a tenth of the writer thread's time under webhook load.
//! Nothing here reads those statistics (`sqlite3_memory_used`, the soft
//! heap limit).
//!
//! Must never: run after a connection has opened (SQLite refuses then, and
//! keeps its defaults: slower, never wrong), or change what is stored.

use rusqlite::ffi;
use std::os::raw::c_int;
use std::sync::OnceLock;

/// Configures SQLite for this process, once (see the module doc); returns
/// whether the page cache is wrapped.
pub(crate) fn configure() -> bool {
    static DONE: OnceLock<bool> = OnceLock::new();
    *DONE.get_or_init(|| {
        // SAFETY: made before SQLite is initialised, or refused by it
        // (SQLITE_MISUSE) and then without effect.
        unsafe {
            ffi::sqlite3_config(ffi::SQLITE_CONFIG_MEMSTATUS, 0 as c_int);
        }
        super::pcache::install()
    })
}

/// Whether SQLite counts its memory in this process (it does unless
/// [`configure`] ran before the first connection).
pub fn memory_statistics_on() -> bool {
    // With statistics off the counters stay at zero; any open connection
    // holds memory, so a counting SQLite reports some.
    // SAFETY: a read of SQLite's counters, valid at any time.
    unsafe { ffi::sqlite3_memory_used() > 0 }
}
