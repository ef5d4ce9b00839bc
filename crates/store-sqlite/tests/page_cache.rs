//! The wrapped page cache (`pcache`): installed before this process's first
//! connection, it keeps every read right while b-trees split and merge,
//! transactions and savepoints roll back, and a second connection's cache
//! is reset by each commit it must see; and SQLite, configured with it,
//! counts no memory (no process-wide mutex per allocation). Its own test
//! binary, so that no other test opens a connection first.

use rusqlite::{Connection, OptionalExtension, params};
use std::collections::BTreeMap;

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn open(path: &std::path::Path) -> Connection {
    let conn = Connection::open(path).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    conn.execute_batch("PRAGMA cache_size = -32768;").unwrap();
    conn
}

fn value(rng: &mut Rng) -> Vec<u8> {
    let len = 100 + rng.below(400) as usize;
    (0..len).map(|_| rng.next() as u8).collect()
}

#[test]
fn reads_stay_right_through_splits_rollbacks_and_another_connections_commits() {
    assert!(
        handover_store_sqlite::page_cache_wrapped(),
        "the page cache was not wrapped: a connection opened before it in this process"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache.db");
    let writer = open(&path);
    writer
        .execute_batch(
            "CREATE TABLE kv (k TEXT PRIMARY KEY, v BLOB NOT NULL, n INTEGER NOT NULL) WITHOUT ROWID;
             CREATE INDEX kv_n ON kv (n);",
        )
        .unwrap();
    let reader = open(&path);
    let skipped_before = handover_store_sqlite::truncations_skipped();

    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut model: BTreeMap<String, (Vec<u8>, i64)> = BTreeMap::new();
    for round in 0..600 {
        // Random keys split and rebalance pages all over both b-trees (the
        // rebalances that park a page at the lock-byte page's number).
        let mut pending = model.clone();
        writer.execute_batch("BEGIN IMMEDIATE").unwrap();
        for _ in 0..(5 + rng.below(40)) {
            let key = format!("k{:016x}", rng.below(1 << 40));
            let v = value(&mut rng);
            let n = rng.below(1_000_000) as i64;
            writer
                .execute(
                    "INSERT INTO kv (k, v, n) VALUES (?1, ?2, ?3) \
                     ON CONFLICT (k) DO UPDATE SET v = excluded.v, n = excluded.n",
                    params![key, v, n],
                )
                .unwrap();
            pending.insert(key, (v, n));
        }
        // Some deletes, so pages merge and go to the free list.
        for _ in 0..rng.below(10) {
            let Some(key) = pending
                .keys()
                .nth(rng.below(pending.len() as u64 + 1) as usize)
            else {
                continue;
            };
            let key = key.clone();
            writer
                .execute("DELETE FROM kv WHERE k = ?1", [&key])
                .unwrap();
            pending.remove(&key);
        }
        // A savepoint that grows the file and is rolled back.
        if round % 5 == 0 {
            writer.execute_batch("SAVEPOINT grow").unwrap();
            for i in 0..200 {
                writer
                    .execute(
                        "INSERT INTO kv (k, v, n) VALUES (?1, ?2, ?3)",
                        params![format!("z{round:04}-{i:04}"), vec![7u8; 2000], -1],
                    )
                    .unwrap();
            }
            writer
                .execute_batch("ROLLBACK TO grow; RELEASE grow")
                .unwrap();
        }
        if round % 7 == 3 {
            writer.execute_batch("ROLLBACK").unwrap();
        } else {
            writer.execute_batch("COMMIT").unwrap();
            model = pending;
        }

        // The other connection sees exactly the committed state.
        let count: i64 = reader
            .query_row("SELECT COUNT(*) FROM kv", [], |r| r.get(0))
            .unwrap();
        assert_eq!(count as usize, model.len(), "round {round}: row count");
        for _ in 0..20 {
            let probe = if model.is_empty() || rng.below(4) == 0 {
                format!("k{:016x}", rng.below(1 << 40))
            } else {
                let i = rng.below(model.len() as u64) as usize;
                model.keys().nth(i).unwrap().clone()
            };
            let got: Option<(Vec<u8>, i64)> = reader
                .query_row("SELECT v, n FROM kv WHERE k = ?1", [&probe], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()
                .unwrap();
            assert_eq!(
                got.as_ref(),
                model.get(&probe),
                "round {round}: key {probe}"
            );
        }
    }

    let check: String = writer
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let mut stmt = reader.prepare("SELECT k, v, n FROM kv ORDER BY k").unwrap();
    let all: BTreeMap<String, (Vec<u8>, i64)> = stmt
        .query_map([], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?))))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(all == model, "the table differs from what was committed");
    let pages: i64 = writer
        .query_row("PRAGMA page_count", [], |r| r.get(0))
        .unwrap();
    assert!(pages > 100, "too small a database to split pages: {pages}");
    assert!(
        handover_store_sqlite::truncations_skipped() > skipped_before,
        "no truncation went through the wrapper"
    );
    assert!(
        !handover_store_sqlite::memory_statistics_on(),
        "SQLite counts its memory: a process-wide mutex per allocation"
    );
}
