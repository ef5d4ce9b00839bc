//! A queue whose items are taken in groups: what queued while every worker
//! was busy goes to the next free worker together (`batch` for step
//! writes, `lookup` for webhook target lookups).
//!
//! Owns: the queue, the workers' permits and the grouping. Must never:
//! hold an item back while a worker is free, or start a group for callers
//! that all went away (an item whose caller is gone is dropped before its
//! group runs).

use std::future::Future;
use std::sync::Arc;

use handover_core::store::{Result, StoreError};
use tokio::sync::{Semaphore, mpsc, oneshot};

/// A queue of requests, each carrying the sender of its answer, served in
/// groups by [`run_in_groups`].
pub(super) struct Grouped<T> {
    tx: mpsc::UnboundedSender<T>,
    /// What serves it, for the errors (`the step writer`).
    what: &'static str,
}

impl<T: Send + 'static> Grouped<T> {
    /// Start serving on the current runtime (see [`run_in_groups`]); it
    /// stops when the queue is dropped.
    pub(super) fn start<F, Fut>(
        what: &'static str,
        workers: usize,
        max: usize,
        gone: fn(&T) -> bool,
        run: F,
    ) -> Grouped<T>
    where
        F: Fn(Vec<T>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run_in_groups(rx, workers, max, gone, run));
        Grouped { tx, what }
    }

    /// Queue the request `make` builds around its answer's sender, and wait
    /// for that answer.
    pub(super) async fn ask<R>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<R>>) -> T,
    ) -> Result<R> {
        let (answer, rx) = oneshot::channel();
        self.tx
            .send(make(answer))
            .map_err(|_| StoreError::backend(format!("postgres: {} has stopped", self.what)))?;
        rx.await.map_err(|_| {
            StoreError::backend(format!("postgres: {} dropped a request", self.what))
        })?
    }
}

/// Take `rx`'s items until it closes: each time one of `workers` is free,
/// the items queued (at most `max`, those `gone` says were abandoned
/// dropped) go to `run`, on a task of their own.
async fn run_in_groups<T, F, Fut>(
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
