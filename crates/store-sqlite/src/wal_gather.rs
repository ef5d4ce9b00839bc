//! A VFS over SQLite's default (`unix`) for the writer's connection: the
//! writes to its WAL file are gathered and reach the file as one write
//! before each sync, instead of two system calls per page.
//!
//! SQLite writes each WAL frame as two writes, its 24-byte header and its
//! page, so a commit of 16 pages made 32 `pwrite` calls, each touching two
//! pages of the file (a frame is 4,120 bytes, not page-aligned): 18 % of
//! the writer thread's time at 5,000 webhooks/s (BENCHMARKS.md). Here a
//! write that continues the buffered run joins it; the run is written out
//! (in pieces of at most [`RUN`] bytes) before anything else happens to the
//! file: a write elsewhere, a read, a sync, a size or truncate, a file
//! control, the close.
//!
//! Owns: the writer connection's WAL file handle. Must never: hold a
//! buffered frame past a sync, or serve a connection that may commit
//! without syncing. Other connections learn of new frames from the shared
//! WAL index, which SQLite updates only after the commit's sync, so with
//! `synchronous=FULL` (every commit syncs; checked when the writer opens)
//! no reader can see a frame that is not in the file yet. A process killed
//! before the sync loses the buffered frames of a commit that was never
//! acknowledged, as it would lose them in a power cut without the buffer.
//! A failed write of the run is reported by the call that wrote it out (for
//! a commit, its sync), so the commit fails as it would have at the frame.
//! Any other file (the database, the WAL index) is the default VFS's own,
//! and the VFS's other entry points are the default's, called with this
//! VFS's object: a copy of the default one (the same `pAppData`).

use rusqlite::ffi;
use std::os::raw::{c_char, c_int, c_void};
use std::ptr;
use std::sync::OnceLock;

/// The VFS's registered name.
pub(crate) const NAME: &std::ffi::CStr = c"handover-wal-gather";

/// The largest write issued: `unix`'s `seekAndWriteFd` keeps only the low
/// 17 bits of a write's length (`nBuf &= 0x1ffff`), so a 128 KiB write
/// would write nothing and be reported as a full disk.
const RUN: usize = 120 << 10;

/// What this VFS keeps beside the default VFS's file (which it wraps in
/// place: that file's bytes come first, so the default methods work on
/// the same pointer).
struct Gather {
    /// The default VFS's methods for the file.
    inner: *const ffi::sqlite3_io_methods,
    /// The buffered run and the file offset it starts at.
    run: Vec<u8>,
    at: i64,
}

/// The default VFS and where [`Gather`] sits in each file.
struct Registered {
    base: *mut ffi::sqlite3_vfs,
    offset: usize,
}
// SAFETY: the pointer is to SQLite's default VFS, which lives as long as
// the process and is only read.
unsafe impl Send for Registered {}
unsafe impl Sync for Registered {}

static REGISTERED: OnceLock<Option<Registered>> = OnceLock::new();

/// Registers the VFS once (after SQLite's process-wide configuration);
/// returns whether it is available.
pub(crate) fn register() -> bool {
    REGISTERED
        .get_or_init(|| {
            // SAFETY: the default VFS is SQLite's static object; the copy
            // is leaked so it lives as long as the process, as SQLite
            // requires of a registered VFS.
            unsafe {
                let base = ffi::sqlite3_vfs_find(ptr::null());
                if base.is_null() {
                    return None;
                }
                let offset = ((*base).szOsFile as usize).next_multiple_of(16);
                let mut vfs = *base;
                vfs.szOsFile = (offset + std::mem::size_of::<Gather>()) as c_int;
                vfs.zName = NAME.as_ptr();
                vfs.pNext = ptr::null_mut();
                vfs.xOpen = Some(x_open);
                let vfs = Box::into_raw(Box::new(vfs));
                if ffi::sqlite3_vfs_register(vfs, 0) != ffi::SQLITE_OK {
                    return None;
                }
                Some(Registered { base, offset })
            }
        })
        .as_ref()
        .is_some()
}

fn registered() -> &'static Registered {
    REGISTERED
        .get()
        .and_then(Option::as_ref)
        .expect("the VFS is only used after it was registered")
}

/// The [`Gather`] of a file this VFS opened as a WAL file.
///
/// SAFETY: `file` must be such a file, not yet closed.
unsafe fn gather<'a>(file: *mut ffi::sqlite3_file) -> &'a mut Gather {
    unsafe { &mut *((file as *mut u8).add(registered().offset) as *mut Gather) }
}

/// The default VFS's methods for `file`.
///
/// SAFETY: as [`gather`].
unsafe fn inner<'a>(file: *mut ffi::sqlite3_file) -> &'a ffi::sqlite3_io_methods {
    unsafe { &*gather(file).inner }
}

/// Writes the buffered run out, in pieces of at most [`RUN`] bytes.
///
/// SAFETY: as [`gather`].
unsafe fn write_out(file: *mut ffi::sqlite3_file) -> c_int {
    unsafe {
        let g = gather(file);
        let write = inner(file).xWrite.expect("unix files can be written");
        let mut rc = ffi::SQLITE_OK;
        let mut at = g.at;
        for piece in g.run.chunks(RUN) {
            rc = write(file, piece.as_ptr().cast(), piece.len() as c_int, at);
            if rc != ffi::SQLITE_OK {
                break;
            }
            at += piece.len() as i64;
        }
        g.run.clear();
        rc
    }
}

/// Writes the run out, then `then` if that worked.
///
/// SAFETY: as [`gather`].
unsafe fn after_write_out(file: *mut ffi::sqlite3_file, then: impl FnOnce() -> c_int) -> c_int {
    match unsafe { write_out(file) } {
        ffi::SQLITE_OK => then(),
        rc => rc,
    }
}

unsafe extern "C" fn x_write(
    file: *mut ffi::sqlite3_file,
    data: *const c_void,
    len: c_int,
    at: i64,
) -> c_int {
    // SAFETY: SQLite passes a file this VFS opened as a WAL file and `len`
    // readable bytes at `data`.
    unsafe {
        let data = std::slice::from_raw_parts(data.cast::<u8>(), len as usize);
        let g = gather(file);
        let continues = g.at + g.run.len() as i64 == at;
        let joins = continues && g.run.len() + data.len() <= RUN;
        if !g.run.is_empty() && !joins {
            let rc = write_out(file);
            if rc != ffi::SQLITE_OK {
                return rc;
            }
        }
        let g = gather(file);
        if g.run.is_empty() {
            g.at = at;
        }
        g.run.extend_from_slice(data);
        ffi::SQLITE_OK
    }
}

unsafe extern "C" fn x_close(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: as `x_write`; the default close zeroes only its own file,
    // which comes before the `Gather`, dropped here first.
    unsafe {
        let rc = write_out(file);
        let methods = gather(file).inner;
        ptr::drop_in_place(gather(file) as *mut Gather);
        let closed = ((*methods).xClose.expect("unix files can be closed"))(file);
        if rc != ffi::SQLITE_OK { rc } else { closed }
    }
}

unsafe extern "C" fn x_read(
    file: *mut ffi::sqlite3_file,
    buf: *mut c_void,
    n: c_int,
    at: i64,
) -> c_int {
    // SAFETY: as `x_write`.
    unsafe {
        after_write_out(file, || {
            (inner(file).xRead.expect("read"))(file, buf, n, at)
        })
    }
}

unsafe extern "C" fn x_truncate(file: *mut ffi::sqlite3_file, size: i64) -> c_int {
    // SAFETY: as `x_write`.
    unsafe {
        after_write_out(file, || {
            (inner(file).xTruncate.expect("truncate"))(file, size)
        })
    }
}

unsafe extern "C" fn x_sync(file: *mut ffi::sqlite3_file, flags: c_int) -> c_int {
    // SAFETY: as `x_write`.
    unsafe { after_write_out(file, || (inner(file).xSync.expect("sync"))(file, flags)) }
}

unsafe extern "C" fn x_file_size(file: *mut ffi::sqlite3_file, size: *mut i64) -> c_int {
    // SAFETY: as `x_write`.
    unsafe { after_write_out(file, || (inner(file).xFileSize.expect("size"))(file, size)) }
}

unsafe extern "C" fn x_file_control(
    file: *mut ffi::sqlite3_file,
    op: c_int,
    arg: *mut c_void,
) -> c_int {
    // SAFETY: as `x_write`.
    unsafe {
        after_write_out(file, || {
            (inner(file).xFileControl.expect("control"))(file, op, arg)
        })
    }
}

unsafe extern "C" fn x_lock(file: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    // SAFETY: as `x_write`.
    unsafe { (inner(file).xLock.expect("lock"))(file, level) }
}

unsafe extern "C" fn x_unlock(file: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    // SAFETY: as `x_write`.
    unsafe { (inner(file).xUnlock.expect("unlock"))(file, level) }
}

unsafe extern "C" fn x_check_reserved(file: *mut ffi::sqlite3_file, out: *mut c_int) -> c_int {
    // SAFETY: as `x_write`.
    unsafe { (inner(file).xCheckReservedLock.expect("check"))(file, out) }
}

unsafe extern "C" fn x_sector_size(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: as `x_write`.
    unsafe { (inner(file).xSectorSize.expect("sector size"))(file) }
}

unsafe extern "C" fn x_device(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: as `x_write`.
    unsafe { (inner(file).xDeviceCharacteristics.expect("device"))(file) }
}

/// Version 1: a WAL file has no shared memory and is never memory-mapped.
static WAL_METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 1,
    xClose: Some(x_close),
    xRead: Some(x_read),
    xWrite: Some(x_write),
    xTruncate: Some(x_truncate),
    xSync: Some(x_sync),
    xFileSize: Some(x_file_size),
    xLock: Some(x_lock),
    xUnlock: Some(x_unlock),
    xCheckReservedLock: Some(x_check_reserved),
    xFileControl: Some(x_file_control),
    xSectorSize: Some(x_sector_size),
    xDeviceCharacteristics: Some(x_device),
    xShmMap: None,
    xShmLock: None,
    xShmBarrier: None,
    xShmUnmap: None,
    xFetch: None,
    xUnfetch: None,
};

/// Opens every file with the default VFS; a WAL file then gets this
/// module's methods around the default ones.
unsafe extern "C" fn x_open(
    _vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    // SAFETY: `file` has this VFS's `szOsFile` bytes: the default VFS's
    // file, then room for a `Gather` at `offset`.
    unsafe {
        let reg = registered();
        let open = (*reg.base).xOpen.expect("the default VFS opens files");
        let rc = open(reg.base, name, file, flags, out_flags);
        if rc != ffi::SQLITE_OK || flags & ffi::SQLITE_OPEN_WAL == 0 || (*file).pMethods.is_null() {
            return rc;
        }
        let slot = (file as *mut u8).add(reg.offset) as *mut Gather;
        slot.write(Gather {
            inner: (*file).pMethods,
            run: Vec::with_capacity(RUN),
            at: 0,
        });
        (*file).pMethods = &WAL_METHODS;
        rc
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::{Connection, OpenFlags};

    /// A writer through this VFS (WAL, every commit synced) and a reader
    /// on the default VFS, on a new file.
    fn open_pair(dir: &std::path::Path) -> (Connection, Connection) {
        assert!(register());
        let path = dir.join("gather.db");
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE;
        let writer = Connection::open_with_flags_and_vfs(&path, flags, NAME).unwrap();
        writer
            .execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;
                 PRAGMA wal_autocheckpoint = 0; CREATE TABLE t (i INTEGER, b BLOB);",
            )
            .unwrap();
        let reader = Connection::open(&path).unwrap();
        (writer, reader)
    }

    /// Rows of `t` and their blobs' bytes, as `conn` sees them.
    fn rows(conn: &Connection) -> (i64, i64) {
        conn.query_row(
            "SELECT count(*), coalesce(sum(length(b)), 0) FROM t",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
    }

    fn integrity(conn: &Connection) -> String {
        conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap()
    }

    /// Each commit's frames are in the file when the commit returns: a
    /// connection that reads the file itself sees every commit at once.
    #[test]
    fn every_commit_is_in_the_file_when_it_returns() {
        let dir = tempfile::tempdir().unwrap();
        let (writer, reader) = open_pair(dir.path());
        for i in 0..40i64 {
            writer
                .execute("INSERT INTO t VALUES (?1, randomblob(3000))", [i])
                .unwrap();
            assert_eq!(rows(&reader), (i + 1, (i + 1) * 3000));
        }
        assert_eq!(integrity(&reader), "ok");
    }

    /// A transaction larger than the page cache writes pages to the log
    /// before its commit and reads them back; runs longer than one write
    /// (`RUN`) go out in pieces.
    #[test]
    fn a_transaction_larger_than_the_cache_reads_back_what_it_spilled() {
        let dir = tempfile::tempdir().unwrap();
        let (writer, reader) = open_pair(dir.path());
        writer
            .execute_batch("PRAGMA cache_size = 10; BEGIN")
            .unwrap();
        for i in 0..600i64 {
            writer
                .execute("INSERT INTO t VALUES (?1, zeroblob(4000))", [i])
                .unwrap();
        }
        assert_eq!(rows(&writer), (600, 2_400_000));
        let wal = std::fs::metadata(dir.path().join("gather.db-wal")).unwrap();
        assert!(
            wal.len() > 1 << 20,
            "spilled pages reached the log: {}",
            wal.len()
        );
        assert_eq!(
            rows(&reader),
            (0, 0),
            "an uncommitted transaction is invisible"
        );
        writer.execute_batch("COMMIT").unwrap();
        assert_eq!(rows(&reader), (600, 2_400_000));
        assert_eq!(integrity(&reader), "ok");
    }

    /// The store's writer uses this VFS unless told not to.
    #[test]
    fn the_store_gathers_by_default() {
        assert!(super::super::gather_wal_writes());
    }
}
