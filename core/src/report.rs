//! Rendering an error with its causes for a person: typed errors keep
//! their source chain (nothing flattened into a `String` where a cause
//! exists); this joins it into one line at the edge where text is needed.
//! Pure; never allocates more than the messages themselves.

use std::error::Error;

/// `err` and every `source()` below it, joined with `": "`.
pub fn chain(err: &(dyn Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut next = err.source();
    while let Some(cause) = next {
        let text = cause.to_string();
        // Some errors repeat their cause in their own message; say it once.
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        next = cause.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::chain;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot load")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn causes_are_joined_once() {
        let e = Outer(std::io::Error::other("disk on fire"));
        assert_eq!(chain(&e), "cannot load: disk on fire");
        let flat = std::io::Error::other("alone");
        assert_eq!(chain(&flat), "alone");
    }
}
