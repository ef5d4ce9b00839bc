//! The bot transcript as MIAW messages: `Author: text` lines packed by the
//! SDK into as few messages as fit [`MAX_MESSAGE_CHARS`], each starting
//! with the header line (numbered when there are several).

use handover_adapter_sdk::TranscriptEntry;
use handover_adapter_sdk::transcript::pack;

/// MIAW's limit on the text of one message.
pub const MAX_MESSAGE_CHARS: usize = 3_000;

/// Most transcript messages `start` sends: each is a round trip inside the
/// host's wall-time limit for `start` (5 s by default), next to the token
/// and conversation calls. Older lines beyond it are summarised.
pub const MAX_TRANSCRIPT_MESSAGES: usize = 10;

/// Characters reserved for the " (nnn/nnn)" numbering and its newline.
const NUMBERING: usize = 12;

/// The messages carrying `entries`, each at most `max` characters.
pub fn messages(entries: &[TranscriptEntry], header: &str, max: usize) -> Vec<String> {
    let header = header.trim();
    let reserve = if header.is_empty() {
        0
    } else {
        header.chars().count() + NUMBERING
    };
    // A header too long to leave room for text is dropped rather than
    // breaking the limit.
    let (header, room) = match max.checked_sub(reserve) {
        Some(room) if room >= 1 => (header, room),
        _ => ("", max.max(1)),
    };
    let bodies = pack(entries, room, MAX_TRANSCRIPT_MESSAGES);
    if header.is_empty() {
        return bodies;
    }
    let n = bodies.len();
    bodies
        .into_iter()
        .enumerate()
        .map(|(i, body)| match n {
            1 => format!("{header}\n{body}"),
            _ => format!("{header} ({}/{n})\n{body}", i + 1),
        })
        .collect()
}
