//! Webhook target lookups read together (`lookup`): each lookup of a batch
//! gets what it reads alone (its handover, its row only while its inbox is
//! empty, nothing for an unknown key or another endpoint's), and lookups
//! made at once through the store each get their own.

use std::sync::Arc;

use handover_core::store::{Change, HandoverRow, Store};
use handover_store_conformance::{inserted, row, step};
use tokio::sync::oneshot;

use super::PgFixture;
use crate::{lookup, ops};

/// `h` with correlation key `key` bound (and no event).
async fn bind(store: &Arc<dyn Store>, h: &HandoverRow, key: &str) -> HandoverRow {
    store
        .apply(Change {
            correlation_keys: vec![key.into()],
            ..step(h, &[])
        })
        .await
        .unwrap();
    store.get_handover(&h.id).await.unwrap().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_lookup_of_a_batch_reads_what_it_reads_alone() {
    let Some(fx) = PgFixture::new().await else {
        return;
    };
    let store = fx.pg();
    let dynamic: Arc<dyn Store> = store.clone();
    // h1 (key k1) with an empty inbox; h2 (key k2) with an item pending;
    // h3 on another endpoint under the same key name k1.
    let h1 = inserted(&dynamic, row("h1", "ep", "s1")).await;
    let h1 = bind(&dynamic, &h1, "k1").await;
    let h2 = inserted(&dynamic, row("h2", "ep", "s2")).await;
    bind(&dynamic, &h2, "k2").await;
    let h3 = inserted(&dynamic, row("h3", "ep2", "s3")).await;
    bind(&dynamic, &h3, "k1").await;
    store
        .accept_webhook("ep", &["d1".into()], &["h2".into()], serde_json::json!({}))
        .await
        .unwrap()
        .expect("stored");

    let asked = [
        ("ep", "k1"),
        ("ep", "k2"),
        ("ep", "unknown"),
        ("ep2", "k1"),
        ("ep2", "k2"),
        ("ep", "k1"),
    ];
    let mut answers = vec![];
    let lookups = asked
        .iter()
        .map(|(endpoint, key)| {
            let (answer, rx) = oneshot::channel();
            answers.push(rx);
            lookup::Lookup {
                endpoint_id: endpoint.to_string(),
                key: key.to_string(),
                answer,
            }
        })
        .collect();
    lookup::read(&store.inner.pool, lookups).await;

    let c = store.client().await.unwrap();
    for ((endpoint, key), rx) in asked.iter().zip(answers) {
        let together = rx.await.unwrap().unwrap();
        let alone = ops::webhook_target(&c, endpoint, key).await.unwrap();
        assert_eq!(together, alone, "{endpoint} {key}");
    }
    // And what they read is what the fixture set up.
    let c1 = ops::webhook_target(&c, "ep", "k1").await.unwrap();
    assert_eq!(c1, Some(("h1".to_string(), Some(h1))));
    let c2 = ops::webhook_target(&c, "ep", "k2").await.unwrap();
    assert_eq!(c2, Some(("h2".to_string(), None)), "h2's inbox has an item");
    let c3 = ops::webhook_target(&c, "ep2", "k1").await.unwrap();
    assert_eq!(c3.map(|(id, _)| id).as_deref(), Some("h3"));
    assert_eq!(
        ops::webhook_target(&c, "ep", "unknown").await.unwrap(),
        None
    );
}

/// Through the store: lookups made at once, more than there are readers,
/// each get their own handover.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookups_made_at_once_each_get_their_own() {
    let Some(fx) = PgFixture::new().await else {
        return;
    };
    let store = fx.pg();
    let dynamic: Arc<dyn Store> = store.clone();
    for i in 0..24 {
        let h = inserted(&dynamic, row(&format!("h{i}"), "ep", &format!("s{i}"))).await;
        bind(&dynamic, &h, &format!("k{i}")).await;
    }
    let keys: Vec<String> = (0..32).map(|i| format!("k{i}")).collect();
    let found = futures::future::join_all(keys.iter().map(|k| store.webhook_target("ep", k))).await;
    for (i, f) in found.into_iter().enumerate() {
        let f = f.unwrap();
        if i < 24 {
            let (id, row) = f.expect("a bound key");
            assert_eq!(id, format!("h{i}"));
            assert_eq!(row.map(|r| r.id), Some(id));
        } else {
            assert_eq!(f, None, "k{i} is bound to nothing");
        }
    }
}
