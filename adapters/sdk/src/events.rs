//! Event builders: one short function per normalized event kind.

use crate::types::{Agent, AgentMessage, Attachment, EndReason, Event, QueueInfo, Transfer};

/// Builds an [`Agent`].
pub fn agent(id: impl Into<String>, name: impl Into<String>) -> Agent {
    Agent {
        id: id.into(),
        name: name.into(),
    }
}

/// The conversation waits in the provider's queue.
pub fn queued(position: Option<u32>, estimated_wait_seconds: Option<u32>) -> Event {
    Event::Queued(QueueInfo {
        position,
        estimated_wait_seconds,
    })
}

/// An agent joined the conversation.
pub fn agent_joined(agent: Agent) -> Event {
    Event::AgentJoined(agent)
}

/// An agent sent a message.
pub fn agent_message(
    agent: Option<Agent>,
    text: impl Into<String>,
    attachments: Vec<Attachment>,
) -> Event {
    Event::AgentMessage(AgentMessage {
        agent,
        text: text.into(),
        attachments,
        #[cfg(feature = "contract-0-2")]
        actions: vec![],
    })
}

/// An agent started (`true`) or stopped (`false`) typing.
pub fn typing(typing: bool) -> Event {
    Event::AgentTyping(typing)
}

/// An agent left the conversation.
pub fn agent_left(agent: Agent) -> Event {
    Event::AgentLeft(agent)
}

/// The conversation moved to another queue and/or agent.
pub fn transferred(to_queue: Option<String>, to_agent: Option<Agent>) -> Event {
    Event::Transferred(Transfer { to_queue, to_agent })
}

/// The provider side ended the conversation.
pub fn ended(reason: EndReason) -> Event {
    Event::Ended(reason)
}
