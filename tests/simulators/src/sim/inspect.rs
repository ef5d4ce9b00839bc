//! What tests read back from a [`SimProvider`]: conversations, messages,
//! events, recorded requests and webhook deliveries, and waits on them.

use super::SimProvider;
use super::state::State;
use super::types::{ConversationRecord, Delivery, RecordedRequest, UserMessage};
use serde_json::Value;
use std::time::Duration;

impl SimProvider {
    /// All conversations, oldest first.
    pub fn conversations(&self) -> Vec<ConversationRecord> {
        let st = self.shared.lock();
        st.convs.iter().map(|c| c.record.clone()).collect()
    }

    pub fn conversation(&self, id: &str) -> Option<ConversationRecord> {
        self.shared.lock().conv(id).map(|c| c.record.clone())
    }

    /// The newest conversation created for `handover_id`.
    pub fn conversation_for_handover(&self, handover_id: &str) -> Option<ConversationRecord> {
        let st = self.shared.lock();
        for_handover(&st, handover_id)
    }

    /// Every event emitted on `conv` so far, in `seq` order.
    pub fn events(&self, conv: &str) -> Vec<Value> {
        let st = self.shared.lock();
        st.conv(conv).map(|c| c.events.clone()).unwrap_or_default()
    }

    /// Every provider API request received (not the `/_sim/` ones), in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.gate.requests()
    }

    /// Every finished webhook delivery, in completion order.
    pub fn webhook_deliveries(&self) -> Vec<Delivery> {
        Delivery::all(&self.shared.outbox)
    }

    /// Waits until a conversation for `handover_id` exists.
    pub async fn wait_for_conversation(
        &self,
        handover_id: &str,
        timeout: Duration,
    ) -> Option<ConversationRecord> {
        self.shared
            .wait_until(timeout, |st| for_handover(st, handover_id))
            .await
    }

    /// Waits until `conv` has received `n` user messages; returns those
    /// received so far (possibly fewer) on timeout.
    pub async fn wait_for_user_messages(
        &self,
        conv: &str,
        n: usize,
        timeout: Duration,
    ) -> Vec<UserMessage> {
        let messages = |st: &State| {
            st.conv(conv)
                .map(|c| c.record.user_messages.clone())
                .unwrap_or_default()
        };
        let found = self
            .shared
            .wait_until(timeout, |st| Some(messages(st)).filter(|m| m.len() >= n))
            .await;
        found.unwrap_or_else(|| messages(&self.shared.lock()))
    }

    /// Waits until `conv` has status `status` (e.g. `cancelled`).
    pub async fn wait_for_status(
        &self,
        conv: &str,
        status: &str,
        timeout: Duration,
    ) -> Option<ConversationRecord> {
        self.shared
            .wait_until(timeout, |st| {
                st.conv(conv)
                    .filter(|c| c.record.status == status)
                    .map(|c| c.record.clone())
            })
            .await
    }

    /// Waits until `n` webhook deliveries have finished; returns those
    /// finished so far (possibly fewer) on timeout.
    pub async fn wait_for_deliveries(&self, n: usize, timeout: Duration) -> Vec<Delivery> {
        self.shared.outbox.wait_for_deliveries(n, timeout).await;
        self.webhook_deliveries()
    }
}

fn for_handover(st: &State, handover_id: &str) -> Option<ConversationRecord> {
    st.convs
        .iter()
        .rev()
        .find(|c| c.record.handover_id == handover_id)
        .map(|c| c.record.clone())
}
