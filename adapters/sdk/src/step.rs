//! [`Step`] constructors: the result of every call that concerns a handover.

use crate::types::{Event, Step};

impl Step {
    /// A step with the given state and events and no new correlation keys.
    pub fn new(state: Vec<u8>, events: Vec<Event>) -> Self {
        Self {
            state,
            events,
            correlation_keys: Vec::new(),
        }
    }

    /// A step that keeps `state` as it is and reports nothing.
    pub fn unchanged(state: Vec<u8>) -> Self {
        Self::new(state, Vec::new())
    }

    /// Adds a correlation key under which webhooks find this handover.
    pub fn with_key(mut self, key: impl Into<String>) -> Self {
        self.correlation_keys.push(key.into());
        self
    }
}
