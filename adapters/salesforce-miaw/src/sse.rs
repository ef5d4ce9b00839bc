//! Server-sent event framing (the `text/event-stream` format): frames end
//! with a blank line; `id:`, `event:` and `data:` fields; `:` comments.

/// One complete event of the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The `id:` field, when the frame has one (it becomes `Last-Event-Id`).
    pub id: Option<String>,
    /// The `event:` field; `message` when absent.
    pub event: String,
    /// The `data:` lines joined with `\n`.
    pub data: String,
}

/// The complete frames of `body`; a trailing frame without its blank line
/// is left out (the next read gets it again, since its id is not stored).
pub fn frames(body: &str) -> Vec<Frame> {
    let text = body.replace("\r\n", "\n").replace('\r', "\n");
    let Some(end) = text.rfind("\n\n") else {
        return Vec::new();
    };
    text[..end]
        .split("\n\n")
        .filter_map(|block| {
            let mut frame = Frame {
                id: None,
                event: String::new(),
                data: String::new(),
            };
            let mut has_data = false;
            for line in block.lines() {
                if line.is_empty() || line.starts_with(':') {
                    continue;
                }
                let (field, value) = line.split_once(':').unwrap_or((line, ""));
                let value = value.strip_prefix(' ').unwrap_or(value);
                match field {
                    "id" => frame.id = Some(value.to_string()),
                    "event" => frame.event = value.to_string(),
                    "data" => {
                        if has_data {
                            frame.data.push('\n');
                        }
                        frame.data.push_str(value);
                        has_data = true;
                    }
                    _ => {}
                }
            }
            if frame.id.is_none() && frame.event.is_empty() && !has_data {
                return None; // comments only (keep-alives)
            }
            if frame.event.is_empty() {
                frame.event = "message".into();
            }
            Some(frame)
        })
        .collect()
}

/// Whether `body` holds a complete frame worth returning for (anything but
/// keep-alives and `ping`s): the poll then stops once the stream is quiet.
pub fn has_event(body: &[u8]) -> bool {
    frames(&String::from_utf8_lossy(body))
        .iter()
        .any(|f| !f.event.eq_ignore_ascii_case("ping"))
}
