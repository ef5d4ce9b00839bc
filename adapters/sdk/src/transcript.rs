//! Transcript chunking for providers that limit message length. Lengths are
//! counted in `char`s (Unicode scalar values), so splits never cut a character.

use crate::types::TranscriptEntry;

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

#[cfg(test)]
mod tests {
    use super::chunk_text;

    #[test]
    fn splits_on_char_boundaries() {
        assert_eq!(chunk_text("héllo wörld", 4), ["héll", "o wö", "rld"]);
        assert_eq!(chunk_text("abc", 3), ["abc"]);
        assert_eq!(chunk_text("", 3), [""]);
        assert_eq!(chunk_text("abc", 0), ["abc"]);
    }
}
