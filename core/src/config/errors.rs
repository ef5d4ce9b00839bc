//! Config errors: one located problem (`ConfigError`), the list a parse
//! returns (`ConfigErrors`), their rendering as `file:line:column: `field`:
//! message` lines, and the byte-offset → line/column conversion.
//!
//! Owns only the error types and how they read. Must never decide what is
//! an error (that is `parse`/`validate`) and never touch files: whoever
//! reads a file names it here as a plain string.

use std::fmt;

/// One problem in a config file, located.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{column}: `{field}`: {message}")]
pub struct ConfigError {
    pub file: String,
    /// 1-based; 0 when the problem is the whole file (e.g. unreadable).
    pub line: usize,
    /// 1-based; 0 when the problem is the whole file.
    pub column: usize,
    /// The field, as a dotted path (`endpoints[0].egress`) or its key.
    pub field: String,
    pub message: String,
}

impl ConfigError {
    /// A problem at byte `offset` of `src`.
    pub fn at(file: &str, src: &str, offset: usize, field: String, message: String) -> Self {
        let (line, column) = line_col(src, offset);
        ConfigError {
            file: file.into(),
            line,
            column,
            field,
            message,
        }
    }

    /// A problem with the file as a whole (no line, no field), e.g. one
    /// that could not be read.
    pub fn whole_file(file: &str, message: String) -> Self {
        ConfigError {
            file: file.into(),
            line: 0,
            column: 0,
            field: "-".into(),
            message,
        }
    }
}

/// All problems found, one per line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", Lines(.0))]
pub struct ConfigErrors(pub Vec<ConfigError>);

struct Lines<'a>(&'a [ConfigError]);

impl fmt::Display for Lines<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in self.0 {
            writeln!(f, "{e}")?;
        }
        Ok(())
    }
}

impl From<ConfigError> for ConfigErrors {
    fn from(e: ConfigError) -> Self {
        ConfigErrors(vec![e])
    }
}

/// 1-based line and column of byte `offset` in `src`.
pub(crate) fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let before = &src[..offset.min(src.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map(|i| offset - i).unwrap_or(offset + 1);
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_file_line_column_field() {
        let src = "a = 1\nbb = 2\n";
        let e = ConfigError::at("c.toml", src, 9, "bb".into(), "bad".into());
        assert_eq!(e.to_string(), "c.toml:2:4: `bb`: bad");
        let all = ConfigErrors(vec![e.clone(), e]);
        assert_eq!(
            all.to_string(),
            "c.toml:2:4: `bb`: bad\nc.toml:2:4: `bb`: bad\n"
        );
    }
}
