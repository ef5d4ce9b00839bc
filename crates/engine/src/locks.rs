//! Per-handover async locks: one step of a handover at a time in this
//! process. (Across replicas the store's version check is the guard.)
//! Entries are removed when the last holder or waiter lets go.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::OwnedMutexGuard;

#[derive(Default)]
pub struct Locks(Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>);

pub struct Guard<'a> {
    locks: &'a Locks,
    id: String,
    guard: Option<OwnedMutexGuard<()>>,
}

impl Locks {
    /// Handovers with a step holding or waiting for their lock.
    pub fn held(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    pub async fn lock(&self, id: &str) -> Guard<'_> {
        let m = self
            .0
            .lock()
            .unwrap()
            .entry(id.to_string())
            .or_default()
            .clone();
        let guard = m.lock_owned().await;
        Guard {
            locks: self,
            id: id.to_string(),
            guard: Some(guard),
        }
    }
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut map = self.locks.0.lock().unwrap();
        if let Some(m) = map.get(&self.id)
            && Arc::strong_count(m) == 1
        {
            map.remove(&self.id);
        }
    }
}
