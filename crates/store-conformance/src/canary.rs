//! Canary records and counts: begun once per endpoint while one runs,
//! ended once (the first caller naming the running canary wins, also from
//! another process), counts shared per process.

use crate::Fixture;
use handover_core::store::{CanaryRecord, Store};
use serde_json::json;

fn rec(endpoint: &str, id: &str, doc: serde_json::Value) -> CanaryRecord {
    CanaryRecord {
        endpoint_id: endpoint.into(),
        canary_id: id.into(),
        running: true,
        doc,
    }
}

pub async fn canaries_begin_and_end_once_and_share_counts(fx: &dyn Fixture) {
    let store = fx.store();
    let other = fx.another().await;
    assert_eq!(store.canary_record("ep").await.unwrap(), None);
    let c1 = rec("ep", "c1", json!({"share": 10}));
    assert!(store.begin_canary(&c1, b"candidate one").await.unwrap());
    // While it runs, no other canary begins on the endpoint (any process).
    let c2 = rec("ep", "c2", json!({"share": 20}));
    assert!(!other.begin_canary(&c2, b"candidate two").await.unwrap());
    assert_eq!(other.canary_record("ep").await.unwrap(), Some(c1.clone()));
    assert_eq!(
        other.canary_bytes("ep", "c1").await.unwrap().as_deref(),
        Some(&b"candidate one"[..])
    );
    assert_eq!(other.canary_bytes("ep", "c2").await.unwrap(), None);
    // Another endpoint is independent.
    assert!(
        other
            .begin_canary(&rec("ep2", "c3", json!({})), b"x")
            .await
            .unwrap()
    );

    // Counts: each process's own row, everyone's returned.
    let all = store
        .share_canary_counts("c1", "r1", &json!({"ended": 1}))
        .await
        .unwrap();
    assert_eq!(all, vec![("r1".to_string(), json!({"ended": 1}))]);
    let all = other
        .share_canary_counts("c1", "r2", &json!({"ended": 5}))
        .await
        .unwrap();
    assert_eq!(all.len(), 2);
    let all = store
        .share_canary_counts("c1", "r1", &json!({"ended": 3}))
        .await
        .unwrap();
    assert_eq!(
        all,
        vec![
            ("r1".to_string(), json!({"ended": 3})),
            ("r2".to_string(), json!({"ended": 5}))
        ]
    );

    // Ending: only the running canary, only once, whoever asks first.
    let done = json!({"result": "rolled_back"});
    assert!(!store.finish_canary("ep", "c2", &done).await.unwrap());
    let promoted = json!({"result": "promoted"});
    let (a, b) = tokio::join!(
        store.finish_canary("ep", "c1", &done),
        other.finish_canary("ep", "c1", &promoted)
    );
    assert!(
        a.unwrap() ^ b.unwrap(),
        "exactly one of two concurrent ends wins"
    );
    let ended = store.canary_record("ep").await.unwrap().unwrap();
    assert!(!ended.running);
    assert_eq!(ended.canary_id, "c1");
    assert!(ended.doc["result"] == "rolled_back" || ended.doc["result"] == "promoted");

    // The next canary replaces the ended record; the old counts go.
    assert!(other.begin_canary(&c2, b"candidate two").await.unwrap());
    assert_eq!(store.canary_record("ep").await.unwrap(), Some(c2));
    assert_eq!(store.canary_bytes("ep", "c1").await.unwrap(), None);
    let all = store
        .share_canary_counts("c1", "r1", &json!({}))
        .await
        .unwrap();
    assert_eq!(all.len(), 1, "c1's earlier rows were deleted: {all:?}");
}

pub async fn recordings_keep_the_newest_handovers_in_order(fx: &dyn Fixture) {
    let store = fx.store();
    assert!(store.recordings("ep", 10).await.unwrap().is_empty());
    // h1, h2, h3 start in that order; h1 gets a second call last.
    for (h, n) in [("h1", 0), ("h2", 0), ("h3", 0), ("h1", 1)] {
        let e = json!({"call": n, "of": h});
        store.append_recording("ep", h, &e, None).await.unwrap();
    }
    store
        .append_recording("other", "x", &json!({}), None)
        .await
        .unwrap();
    let all = store.recordings("ep", 10).await.unwrap();
    let ids: Vec<&str> = all.iter().map(|(h, _)| h.as_str()).collect();
    assert_eq!(ids, ["h1", "h2", "h3"], "oldest handover first");
    assert_eq!(
        all[0].1,
        vec![
            json!({"call": 0, "of": "h1"}),
            json!({"call": 1, "of": "h1"})
        ]
    );
    let newest = store.recordings("ep", 2).await.unwrap();
    let ids: Vec<&str> = newest.iter().map(|(h, _)| h.as_str()).collect();
    assert_eq!(ids, ["h2", "h3"]);
    // Keeping two handovers drops h1's calls; other endpoints untouched.
    fx.another()
        .await
        .append_recording("ep", "h4", &json!({}), Some(2))
        .await
        .unwrap();
    assert_eq!(recorded_handovers(&*store, "ep").await, ["h3", "h4"]);
    assert_eq!(store.recordings("other", 10).await.unwrap().len(), 1);
}

/// The handovers `endpoint` keeps recordings of, oldest first.
pub(crate) async fn recorded_handovers(store: &dyn Store, endpoint: &str) -> Vec<String> {
    let all = store.recordings(endpoint, 1_000).await.unwrap();
    all.into_iter().map(|(h, _)| h).collect()
}
