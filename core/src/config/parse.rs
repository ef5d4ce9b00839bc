//! Parsing: TOML text → `Config`, then static validation. A TOML or serde
//! error becomes one `ConfigError` located by the error's span (line,
//! column) and named by the path serde was at (`serde_path_to_error`:
//! `endpoints[0].instance_reuse`), never by picking words out of the
//! error's message.
//!
//! Must never do I/O: it gets the text and the name to show for it.

use super::Config;
use super::errors::{ConfigError, ConfigErrors};
use super::validate::validate;
use serde_path_to_error::{Path, Segment};

/// Parse and statically validate `src` (named `file` in messages).
pub fn parse(file: &str, src: &str) -> Result<Config, ConfigErrors> {
    let located = |e: &toml::de::Error, field: String| {
        let offset = e.span().map_or(0, |s| s.start);
        ConfigError::at(file, src, offset, field, e.message().to_string())
    };
    let de = toml::Deserializer::parse(src).map_err(|e| located(&e, "-".into()))?;
    let cfg: Config = serde_path_to_error::deserialize(de).map_err(|e| {
        let field = dotted(e.path());
        located(e.inner(), field)
    })?;
    let errs = validate(file, src, &cfg);
    if errs.is_empty() {
        Ok(cfg)
    } else {
        Err(ConfigErrors(errs))
    }
}

/// `endpoints[0].instance_reuse`, without the `Spanned` wrapper's private
/// keys; `-` for the document itself.
fn dotted(path: &Path) -> String {
    let mut out = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if key.starts_with("$__") {
                    continue;
                }
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Segment::Unknown => {}
        }
    }
    if out.is_empty() { "-".into() } else { out }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::expand;
    use std::collections::BTreeMap;

    fn one_error(src: &str) -> ConfigError {
        let e = parse("c.toml", src).unwrap_err();
        assert_eq!(e.0.len(), 1, "{e}");
        e.0.into_iter().next().unwrap()
    }

    #[test]
    fn errors_carry_line_and_field() {
        let src = "[server]\nlisten = \"127.0.0.1:8080\"\n\n[[endpoints]]\nid = \"a\"\nadapter = \"x.wasm\"\negress = [\"ftp://nope\"]\n";
        let e = one_error(src);
        assert_eq!(e.line, 7);
        assert_eq!(e.field, "endpoints[0].egress");
        assert!(e.message.contains("scheme"), "{e}");
    }

    #[test]
    fn unknown_field_is_located() {
        let src = "[[endpoints]]\nid = \"a\"\nadapter = \"x.wasm\"\nsetings = {}\n";
        let e = one_error(src);
        assert_eq!(e.line, 4, "{e}");
        assert_eq!(e.field, "endpoints[0].setings");
        assert!(e.message.contains("unknown field `setings`"), "{e}");
    }

    #[test]
    fn a_bad_value_names_its_path_not_the_message() {
        for (bad, column) in [("instance_reuse = -1", 18), ("instance_reuse = \"x\"", 18)] {
            let src = format!("[[endpoints]]\nid = \"a\"\nadapter = \"x.wasm\"\n{bad}\n");
            let e = one_error(&src);
            assert_eq!((e.line, e.column), (4, column), "{e}");
            assert_eq!(e.field, "endpoints[0].instance_reuse", "{e}");
            assert!(
                e.to_string()
                    .starts_with("c.toml:4:18: `endpoints[0].instance_reuse`: "),
                "{e}"
            );
        }
    }

    /// `toml` fails with one error, naming `field`; returns it.
    fn error_at(toml: &str, field: &str) -> ConfigError {
        let e = one_error(toml);
        assert_eq!(e.field, field, "{e}");
        e
    }

    #[test]
    fn a_bad_spanned_value_hides_the_span_wrapper() {
        let e = error_at("[server]\nlisten = 8080\n", "server.listen");
        assert_eq!(e.line, 2, "{e}");
        error_at(
            "[[endpoints]]\nid = \"a\"\nadapter = \"x.wasm\"\negress = [1]\n",
            "endpoints[0].egress[0]",
        );
    }

    #[test]
    fn nested_tables_and_maps_are_named() {
        error_at(
            "[tenants.acme.quotas]\nmemory_mib = \"lots\"\n",
            "tenants.acme.quotas.memory_mib",
        );
        error_at("[store]\nbackend = \"mysql\"\n", "store.backend");
    }

    #[test]
    fn a_missing_field_names_its_table() {
        let e = error_at("[[endpoints]]\nid = \"a\"\n", "endpoints[0]");
        assert!(e.message.contains("missing field `adapter`"), "{e}");
    }

    #[test]
    fn a_syntax_error_is_located_without_a_field() {
        let e = one_error("[server]\nlisten = \n");
        assert_eq!(e.field, "-");
        assert_eq!(e.line, 2, "{e}");
    }

    #[test]
    fn duplicate_ids_and_bad_pin() {
        let src = "[[endpoints]]\nid = \"a\"\nadapter = \"x.wasm\"\n[[endpoints]]\nid = \"a\"\nadapter = \"y.wasm\"\nsha256 = \"abc\"\n";
        let e = parse("c.toml", src).unwrap_err();
        assert_eq!(e.0.len(), 2, "{e}");
        assert!(e.to_string().contains("duplicate endpoint id"));
        assert!(e.to_string().contains("c.toml:7"));
    }

    #[test]
    fn auth_rules_are_checked() {
        let src = "[[endpoints]]\nid = \"a\"\nadapter = \"x.wasm\"\n[endpoints.secrets]\ntok = \"s\"\n[[endpoints.auth]]\ntarget = \"https://api.x.com\"\nheader = { name = \"Authorization\", value = \"Bearer {{tok}} {{nope}}\" }\n[[endpoints.auth]]\ntarget = \"https://api.y.com\"\n";
        let e = parse("c.toml", src).unwrap_err().to_string();
        assert!(e.contains("`{{nope}}`, which is not in `secrets`"), "{e}");
        assert!(e.contains("exactly one of"), "{e}");
        let mut secrets = BTreeMap::new();
        secrets.insert("tok".to_string(), "abc".to_string());
        assert_eq!(expand("Bearer {{tok}}", &secrets).unwrap(), "Bearer abc");
        assert!(expand("{{other}}", &secrets).is_err());
    }

    #[test]
    fn retention_settings_are_checked() {
        let src = "[retention]\ninterval_s = 0\nadapter_versions_kept = 3\nwebhook_deliveries_s = 60\n[[endpoints]]\nid = \"a\"\nadapter = \"x.wasm\"\n";
        let e = parse("c.toml", src).unwrap_err();
        assert_eq!(e.0.len(), 3, "{e}");
        let e = e.to_string();
        assert!(e.contains("retention.interval_s"), "{e}");
        assert!(e.contains("use at least 11, or 0"), "{e}");
        assert!(
            e.contains("shorter than endpoint `a`'s replay_window_s (300 s)"),
            "{e}"
        );
        let ok = parse(
            "c.toml",
            "[retention]\nended_handovers_s = 0\nadapter_versions_kept = 0\n",
        );
        assert_eq!(ok.unwrap().retention.ended_handovers_s, 0);
    }

    #[test]
    fn runtime_settings_are_checked() {
        let e = parse("c.toml", "[runtime]\nmax_poll_wait_s = 86400\n").unwrap_err();
        assert_eq!(e.0.len(), 1, "{e}");
        assert!(e.to_string().contains("runtime.max_poll_wait_s"), "{e}");
        assert!(e.to_string().contains("use at most an hour"), "{e}");
        let c = parse("c.toml", "[runtime]\nmax_poll_wait_s = 3600\n").unwrap();
        assert_eq!(c.runtime.max_poll_wait_s, 3600);
        for bad in [0, 4097] {
            let src = format!("[runtime]\nmax_memory_mib = {bad}\n");
            let e = parse("c.toml", &src).unwrap_err();
            assert_eq!(e.0.len(), 1, "{e}");
            assert!(e.to_string().contains("runtime.max_memory_mib"), "{e}");
            assert!(e.to_string().contains("use at most 4096"), "{e}");
        }
        let c = parse("c.toml", "[runtime]\nmax_memory_mib = 4096\n").unwrap();
        assert_eq!(c.runtime.max_memory_mib, 4096);
    }

    #[test]
    fn drain_settings_are_checked() {
        let c = parse("c.toml", "").unwrap();
        assert_eq!(
            (c.server.drain_unready_ms, c.server.shutdown_grace_s),
            (0, 30)
        );
        let toml = "[server]\ndrain_unready_ms = 5000\nshutdown_grace_s = 5\n";
        let e = parse("c.toml", toml).unwrap_err();
        assert!(e.to_string().contains("server.drain_unready_ms"), "{e}");
        assert!(
            e.to_string().contains("exit before it stops accepting"),
            "{e}"
        );
        let toml = "[server]\ndrain_unready_ms = 2000\nshutdown_grace_s = 5\n";
        let c = parse("c.toml", toml).unwrap();
        assert_eq!(
            (c.server.drain_unready_ms, c.server.shutdown_grace_s),
            (2000, 5)
        );
    }

    #[test]
    fn empty_config_is_valid() {
        let c = parse("c.toml", "").unwrap();
        assert!(c.endpoints.is_empty());
        assert_eq!(c.server.listen.get_ref(), "127.0.0.1:8080");
    }
}
