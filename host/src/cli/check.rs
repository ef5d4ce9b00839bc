//! `handover-host check CONFIG`: validate a config file completely —
//! syntax and fields (with file, line and field), then every endpoint's
//! adapter (readable, pinned hash, a served contract version, `describe`,
//! `validate-settings` with the endpoint's settings, and a 0.2.0 adapter's
//! declared egress and secrets against the endpoint's: what is missing is
//! a problem, what is granted beyond the need a note).
//!
//! Never starts a server or writes state.

use crate::config;
use crate::registry;
use crate::runtime::{LoadError, Runtime, RuntimeConfig};
use std::path::Path;

/// `Ok(summary)` if everything passes, `Err(report)` with one line per problem.
pub async fn run(path: &Path) -> Result<String, String> {
    let cfg = config::load(path).map_err(|e| e.to_string())?;
    let runtime = Runtime::new(RuntimeConfig {
        max_instances: 8,
        fuel: cfg.config.runtime.fuel,
        ..Default::default()
    })
    .map_err(|e| handover_core::report::chain(&e))?;
    let mut problems = vec![];
    let mut notes: Vec<String> = vec![];
    let doc = toml_edit::Document::parse(cfg.source.as_str()).ok();
    for (i, ep) in cfg.config.endpoints.iter().enumerate() {
        let file = cfg.resolve_path(ep.adapter.get_ref());
        let (line, _) = line_of(&cfg.source, ep.adapter.span().start);
        let at = format!(
            "{}:{line}: endpoint `{}` (`adapter`)",
            path.display(),
            ep.id.get_ref()
        );
        let bytes = match std::fs::read(&file) {
            Ok(b) => b,
            Err(e) => {
                problems.push(format!("{at}: cannot read {}: {e}", file.display()));
                continue;
            }
        };
        let pin = ep.sha256.as_ref().map(|s| s.get_ref().to_ascii_lowercase());
        let checked = registry::validate(&runtime, &bytes, pin.as_deref(), &ep.settings_json())
            .await
            .and_then(|adapter| {
                // A 0.2.0 adapter's declared needs against the endpoint.
                if let Some(note) = registry::check_permissions(&adapter, ep, &ep.settings_json())?
                {
                    notes.push(format!("{at}: [egress, secrets] note: {note}"));
                }
                Ok(adapter)
            });
        if let Err(e) = checked {
            let (field, span) = match &e {
                LoadError::Settings(_) => ("settings", settings_span(doc.as_ref(), i)),
                LoadError::Pinned { .. } => ("sha256", ep.sha256.as_ref().map(|s| s.span())),
                LoadError::Permissions(_) => ("egress, secrets", None),
                _ => ("adapter", None),
            };
            // Point at the field that is wrong when it is written out.
            let at = match span {
                Some(span) => format!(
                    "{}:{}: endpoint `{}` (`{field}`)",
                    path.display(),
                    line_of(&cfg.source, span.start).0,
                    ep.id.get_ref()
                ),
                None => at,
            };
            problems.push(format!("{at}: [{field}] {e}"));
        }
    }
    if problems.is_empty() {
        let mut ok = format!(
            "{}: ok ({} endpoints)",
            path.display(),
            cfg.config.endpoints.len()
        );
        for n in notes {
            ok += &format!("\n{n}");
        }
        Ok(ok)
    } else {
        problems.extend(notes);
        Err(problems.join("\n"))
    }
}

/// Where endpoint `i`'s `settings` are written, if they are.
fn settings_span(
    doc: Option<&toml_edit::Document<&str>>,
    i: usize,
) -> Option<std::ops::Range<usize>> {
    let table = doc?.get("endpoints")?.as_array_of_tables()?.get(i)?;
    let (key, item) = table.get_key_value("settings")?;
    key.span().or_else(|| item.span())
}

fn line_of(src: &str, offset: usize) -> (usize, usize) {
    let before = &src[..offset.min(src.len())];
    (before.matches('\n').count() + 1, 0)
}
