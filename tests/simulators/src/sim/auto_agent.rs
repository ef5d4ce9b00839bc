//! The scripted agent of `SimConfig::auto_agent`: one task per conversation
//! that joins, greets, echoes user messages and closes on "bye".

use super::AutoAgent;
use super::events;
use super::state::Shared;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Starts the agent of conversation `conv`; user message texts go to the
/// returned sender. The task ends when the sender is dropped (the
/// conversation was cancelled, closed or ended) or after "bye".
pub(crate) fn spawn(
    shared: &Arc<Shared>,
    conv: &str,
    cfg: AutoAgent,
) -> mpsc::UnboundedSender<String> {
    let (tx, rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(run(shared.clone(), conv.to_string(), cfg, rx));
    shared.track(task.abort_handle());
    tx
}

async fn run(
    shared: Arc<Shared>,
    conv: String,
    cfg: AutoAgent,
    mut rx: mpsc::UnboundedReceiver<String>,
) {
    tokio::time::sleep(Duration::from_millis(cfg.join_after_ms)).await;
    let emit = |(kind, fields)| {
        let open = shared
            .lock()
            .conv(&conv)
            .is_some_and(|c| !c.record.is_terminal());
        open && shared.emit(&conv, kind, fields).is_ok()
    };
    if !emit(events::agent_joined("a-1", &cfg.agent_name)) {
        return;
    }
    emit(events::agent_message(&cfg.greeting, &[]));
    while let Some(text) = rx.recv().await {
        if text.trim().eq_ignore_ascii_case("bye") {
            emit(events::agent_message("goodbye", &[]));
            emit(events::ended("agent_closed"));
            return;
        }
        if !emit(events::agent_message(&format!("echo: {text}"), &[])) {
            return;
        }
    }
}
