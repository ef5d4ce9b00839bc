//! Transcript chunking for providers that limit message length. Lengths are
//! counted in `char`s (Unicode scalar values), so splits never cut a character.

use crate::settings;
use crate::types::Failure;
use crate::types::TranscriptEntry;

/// How an adapter packs the transcript into provider messages (see
/// [`pack`]) from the optional `transcript_chunk` (characters per message)
/// and `transcript_max_messages` settings: their defaults and the most
/// messages the provider (or the per-call request budget) allows.
#[derive(Clone, Copy, Debug)]
pub struct PackLimits {
    /// Characters per message when `transcript_chunk` is not set.
    pub default_chars: usize,
    /// Messages when `transcript_max_messages` is not set.
    pub default_messages: usize,
    /// The largest `transcript_max_messages` accepted.
    pub max_messages: usize,
}

impl PackLimits {
    /// For providers that take one request per transcript message: 2,000
    /// characters and 10 messages unless the settings say otherwise; the
    /// host allows 32 outgoing requests per call, so at most 24 messages
    /// keep room for the rest.
    pub const PER_REQUEST: PackLimits = PackLimits {
        default_chars: 2000,
        default_messages: 10,
        max_messages: 24,
    };

    /// Checks the two settings: both at least 1, the message count at most
    /// [`max_messages`](PackLimits::max_messages); failures name the field.
    pub fn validate(&self, chars: Option<usize>, messages: Option<usize>) -> Result<(), Failure> {
        settings::require_min("transcript_chunk", chars, 1)?;
        settings::require_min("transcript_max_messages", messages, 1)?;
        let field = "transcript_max_messages";
        settings::require_max(field, messages, self.max_messages, None, true)
    }

    /// [`pack`] with the settings, or the defaults where they are not set.
    pub fn pack(
        &self,
        entries: &[TranscriptEntry],
        chars: Option<usize>,
        messages: Option<usize>,
    ) -> Vec<String> {
        let chars = chars.unwrap_or(self.default_chars);
        pack(entries, chars, messages.unwrap_or(self.default_messages))
    }
}

/// Splits `text` into pieces of at most `max_chars` characters. An empty
/// text gives one empty piece; `max_chars == 0` means "no limit".
pub fn chunk_text(text: &str, max_chars: usize) -> Vec<&str> {
    if max_chars == 0 || text.is_empty() {
        return vec![text];
    }
    let mut pieces = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let end = rest
            .char_indices()
            .nth(max_chars)
            .map_or(rest.len(), |(index, _)| index);
        let (piece, tail) = rest.split_at(end);
        pieces.push(piece);
        rest = tail;
    }
    pieces
}

/// Splits every entry whose text is longer than `max_chars` into several
/// entries with the same author and timestamp, keeping the order.
pub fn chunk(entries: &[TranscriptEntry], max_chars: usize) -> Vec<TranscriptEntry> {
    entries
        .iter()
        .flat_map(|entry| {
            chunk_text(&entry.text, max_chars)
                .into_iter()
                .map(|piece| TranscriptEntry {
                    author: entry.author,
                    text: piece.to_string(),
                    timestamp_ms: entry.timestamp_ms,
                })
        })
        .collect()
}

/// The label [`pack`] puts before each line.
pub fn author_label(author: crate::types::Author) -> &'static str {
    use crate::types::Author;
    match author {
        Author::User => "User",
        Author::Bot => "Bot",
        Author::Agent => "Agent",
        Author::System => "System",
    }
}

/// Renders entries as `"Label: text"` lines and packs them, in order, into
/// as few messages of at most `max_chars` characters as possible (a line
/// longer than that is split). For providers that take the transcript as
/// ordinary messages and limit both message length and, through the host's
/// per-call request budget, message count: when more than `max_messages`
/// messages would be needed, the oldest are dropped and the first message
/// says how many. `max_chars == 0` means "no limit".
pub fn pack(entries: &[TranscriptEntry], max_chars: usize, max_messages: usize) -> Vec<String> {
    let mut messages: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut current_len = 0;
    for entry in entries {
        let line = format!("{}: {}", author_label(entry.author), entry.text);
        for piece in chunk_text(&line, max_chars) {
            let len = piece.chars().count();
            let fits = max_chars == 0 || current_len + 1 + len <= max_chars;
            if !current.is_empty() && fits {
                current.push('\n');
                current.push_str(piece);
                current_len += 1 + len;
            } else {
                if !current.is_empty() {
                    messages.push(std::mem::take(&mut current));
                }
                current.push_str(piece);
                current_len = len;
            }
        }
    }
    if !current.is_empty() {
        messages.push(current);
    }
    if max_messages > 0 && messages.len() > max_messages {
        let dropped = messages.len() - max_messages + 1;
        let mut kept = vec![format!("({dropped} earlier transcript message(s) omitted)")];
        kept.extend(messages.drain(dropped..));
        return kept;
    }
    messages
}

#[cfg(test)]
mod tests {
    use super::{PackLimits, chunk_text, pack};
    use crate::types::{Author, TranscriptEntry};

    #[test]
    fn splits_on_char_boundaries() {
        assert_eq!(chunk_text("héllo wörld", 4), ["héll", "o wö", "rld"]);
        assert_eq!(chunk_text("abc", 3), ["abc"]);
        assert_eq!(chunk_text("", 3), [""]);
        assert_eq!(chunk_text("abc", 0), ["abc"]);
    }

    fn entry(author: Author, text: &str) -> TranscriptEntry {
        TranscriptEntry {
            author,
            text: text.into(),
            timestamp_ms: 0,
        }
    }

    #[test]
    fn pack_limits_check_and_default() {
        let limits = PackLimits {
            default_chars: 100,
            default_messages: 2,
            max_messages: 3,
        };
        assert!(limits.validate(Some(1), Some(3)).is_ok());
        let over = limits.validate(None, Some(4)).unwrap_err().message;
        assert_eq!(
            over,
            "settings: `transcript_max_messages`: must be at most 3, got 4"
        );
        assert!(limits.validate(Some(0), None).is_err());
        let entries = [entry(Author::User, "a"), entry(Author::Bot, "b")];
        assert_eq!(limits.pack(&entries, None, None), ["User: a\nBot: b"]);
        assert_eq!(limits.pack(&entries, Some(7), None), ["User: a", "Bot: b"]);
    }

    #[test]
    fn packs_lines_into_messages() {
        let entries = [entry(Author::User, "help"), entry(Author::Bot, "sure")];
        assert_eq!(pack(&entries, 100, 10), ["User: help\nBot: sure"]);
        assert_eq!(pack(&entries, 10, 10), ["User: help", "Bot: sure"]);
        assert_eq!(pack(&entries, 6, 10), ["User: ", "help", "Bot: s", "ure"]);
        assert!(pack(&[], 10, 10).is_empty());
        let many: Vec<_> = (0..5)
            .map(|i| entry(Author::User, &i.to_string()))
            .collect();
        assert_eq!(
            pack(&many, 7, 3),
            [
                "(3 earlier transcript message(s) omitted)",
                "User: 3",
                "User: 4"
            ]
        );
    }
}
