//! Settings parsing with messages that name the field path and the problem,
//! e.g. ``settings: `mode`: unknown variant `push`, expected `webhook` or `poll` ``.

use crate::failure::error;
use crate::types::Failure;
use serde::de::DeserializeOwned;

/// An endpoint's settings as a typed adapter declares them (see
/// [`TypedAdapter`](crate::TypedAdapter)): how to get them from the
/// settings text. Implemented for every [`Validate`] type (serde, then the
/// check); implement it by hand only to reuse an existing parser.
pub trait EndpointSettings: Sized {
    /// Parses and checks the settings text; failures name the field.
    fn parse(text: &str) -> Result<Self, Failure>;
}

/// Settings read with serde (errors name the field, see [`parse`]) and then
/// checked by [`validate`](Validate::validate).
pub trait Validate: DeserializeOwned {
    /// Checks (and may normalise, e.g. a URL's trailing `/`) freshly parsed
    /// settings; failures name the field, e.g. with [`invalid`].
    fn validate(&mut self) -> Result<(), Failure> {
        Ok(())
    }
}

impl<T: Validate> EndpointSettings for T {
    fn parse(text: &str) -> Result<Self, Failure> {
        let mut parsed: T = parse(text)?;
        parsed.validate()?;
        Ok(parsed)
    }
}

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

/// Checks that an optional number is at most `max`: the failure reads
/// ``must be at most {max}`` followed by ` ({why})` when `why` is given and
/// `, got {value}` when `echo` is set.
pub fn require_max<N>(
    field: &str,
    value: Option<N>,
    max: N,
    why: Option<&str>,
    echo: bool,
) -> Result<(), Failure>
where
    N: PartialOrd + std::fmt::Display,
{
    match value {
        Some(v) if v > max => {
            let mut problem = format!("must be at most {max}");
            if let Some(why) = why {
                problem.push_str(&format!(" ({why})"));
            }
            if echo {
                problem.push_str(&format!(", got {v}"));
            }
            Err(invalid(field, problem))
        }
        _ => Ok(()),
    }
}

/// Checks that a list setting is not empty (``must list at least one
/// {noun}``) and has no blank entry (`` `field[i]`: must not be empty ``).
pub fn require_list(field: &str, list: &[String], noun: &str) -> Result<(), Failure> {
    if list.is_empty() {
        return Err(invalid(field, format!("must list at least one {noun}")));
    }
    match list.iter().position(|c| c.trim().is_empty()) {
        Some(i) => Err(invalid(&format!("{field}[{i}]"), "must not be empty")),
        None => Ok(()),
    }
}

/// The optional `channels` setting: when given, a non-empty list of
/// non-blank channel names.
pub fn require_channels(channels: Option<&Vec<String>>) -> Result<(), Failure> {
    match channels {
        Some(list) => require_list("channels", list, "channel"),
        None => Ok(()),
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
    fn lists_and_limits() {
        let empty = require_channels(Some(&Vec::new())).unwrap_err().message;
        assert_eq!(
            empty,
            "settings: `channels`: must list at least one channel"
        );
        let blank = require_list("labels", &["a".into(), " ".into()], "entry");
        assert_eq!(
            blank.unwrap_err().message,
            "settings: `labels[1]`: must not be empty"
        );
        assert!(require_channels(None).is_ok());
        let over = require_max("n", Some(5), 4, Some("why"), true).unwrap_err();
        assert_eq!(
            over.message,
            "settings: `n`: must be at most 4 (why), got 5"
        );
        assert!(require_max("n", Some(4), 4, None, false).is_ok());
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
