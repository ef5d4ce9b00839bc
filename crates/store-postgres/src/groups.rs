//! A queue whose items are taken in groups: what queued while every worker
//! was busy goes to the next free worker together (`batch` for step
//! writes, `lookup` for webhook target lookups).
//!
//! Owns: the workers' permits and the grouping. Must never: hold an item
//! back while a worker is free, or start a group for callers that all went
//! away (an item whose caller is gone is dropped before its group runs).

use std::future::Future;
use std::sync::Arc;

use tokio::sync::{Semaphore, mpsc};

/// Take `rx`'s items until it closes: each time one of `workers` is free,
/// the items queued (at most `max`, those `gone` says were abandoned
/// dropped) go to `run`, on a task of their own.
pub(super) async fn run_in_groups<T, F, Fut>(
    mut rx: mpsc::UnboundedReceiver<T>,
    workers: usize,
    max: usize,
    gone: fn(&T) -> bool,
    run: F,
) where
    T: Send + 'static,
    F: Fn(Vec<T>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let permits = Arc::new(Semaphore::new(workers));
    loop {
        // A worker first: while all are busy, items queue into the next group.
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        let Some(first) = rx.recv().await else {
            return;
        };
        let mut group = vec![first];
        while group.len() < max {
            match rx.try_recv() {
                Ok(item) => group.push(item),
                Err(_) => break,
            }
        }
        group.retain(|item| !gone(item));
        let work = run(group);
        tokio::spawn(async move {
            work.await;
            drop(permit);
        });
    }
}
