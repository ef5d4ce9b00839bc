//! Settings parsing with messages that name the field path and the problem,
//! e.g. ``settings: `mode`: unknown variant `push`, expected `webhook` or `poll` ``.

use crate::failure::error;
use crate::types::Failure;
use serde::de::DeserializeOwned;

/// Parses the endpoint's settings (a JSON object as text) into `T`.
pub fn parse<T: DeserializeOwned>(settings: &str) -> Result<T, Failure> {
    let text = if settings.trim().is_empty() {
        "{}"
    } else {
        settings
    };
    let mut de = serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." {
            error(format!("settings: {inner}"))
        } else {
            error(format!("settings: `{path}`: {inner}"))
        }
    })
}

/// A failure naming a settings field: ``settings: `field`: problem``.
pub fn invalid(field: &str, problem: impl std::fmt::Display) -> Failure {
    error(format!("settings: `{field}`: {problem}"))
}

/// Checks that `value` is an absolute http(s) URL with a host and returns it
/// without a trailing `/`, ready for `format!("{base}/path")`.
pub fn require_http_url(field: &str, value: &str) -> Result<String, Failure> {
    let value = value.trim();
    let rest = value
        .strip_prefix("http://")
        .or_else(|| value.strip_prefix("https://"))
        .ok_or_else(|| {
            invalid(
                field,
                format!("must start with http:// or https://, got {value:?}"),
            )
        })?;
    if rest.is_empty() || rest.starts_with('/') {
        return Err(invalid(field, format!("has no host: {value:?}")));
    }
    Ok(value.trim_end_matches('/').to_string())
}

/// Checks that an optional number is at least `min`.
pub fn require_min<N>(field: &str, value: Option<N>, min: N) -> Result<(), Failure>
where
    N: PartialOrd + std::fmt::Display,
{
    match value {
        Some(v) if v < min => Err(invalid(field, format!("must be at least {min}, got {v}"))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize, Debug)]
    #[allow(dead_code)]
    struct Example {
        base_url: String,
        nested: Option<Nested>,
    }
    #[derive(Deserialize, Debug)]
    #[allow(dead_code)]
    struct Nested {
        count: u32,
    }

    #[test]
    fn messages_name_the_field() {
        let missing = parse::<Example>("{}").unwrap_err().message;
        assert!(missing.contains("missing field `base_url`"), "{missing}");
        let nested = parse::<Example>(r#"{"base_url":"x","nested":{"count":"a"}}"#);
        let nested = nested.unwrap_err().message;
        assert!(
            nested.starts_with("settings: `nested.count`: invalid type"),
            "{nested}"
        );
    }

    #[test]
    fn urls() {
        assert_eq!(require_http_url("u", "http://h:1/").unwrap(), "http://h:1");
        assert!(
            require_http_url("u", "ftp://h")
                .unwrap_err()
                .message
                .contains("`u`")
        );
        assert!(require_http_url("u", "http://").is_err());
    }
}
