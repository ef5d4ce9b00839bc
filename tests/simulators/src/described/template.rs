//! Templates of a provider description: JSON values whose strings may hold
//! `{{variable}}` placeholders, filled in per request or webhook.
//!
//! A string that is exactly one placeholder of a numeric variable (`seq`,
//! `now_ms`) becomes a JSON number; every other placeholder is replaced by
//! its text inside the string. Must never leave a placeholder unfilled: a
//! template is checked against the variables its place can have when the
//! description is read.

use serde_json::Value;

/// A variable a template may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Var {
    /// The simulator's base URL (no trailing slash).
    BaseUrl,
    /// The provider's conversation id.
    Conversation,
    /// The handover id the adapter sent when it opened the conversation.
    HandoverId,
    /// A fresh unique id (per response).
    Id,
    /// The webhook delivery's id (unique per agent action).
    EventId,
    /// The agent's display name.
    Agent,
    /// The agent's message text.
    Text,
    /// 1, 2, 3… per conversation, in the order the agent acted (a number).
    Seq,
    /// Milliseconds since the Unix epoch (a number).
    NowMs,
    /// The time as RFC 3339 (`2026-12-03T10:00:00.000Z`).
    Now,
}

const ALL: &[(Var, &str)] = &[
    (Var::BaseUrl, "base_url"),
    (Var::Conversation, "conversation"),
    (Var::HandoverId, "handover_id"),
    (Var::Id, "id"),
    (Var::EventId, "event_id"),
    (Var::Agent, "agent"),
    (Var::Text, "text"),
    (Var::Seq, "seq"),
    (Var::NowMs, "now_ms"),
    (Var::Now, "now"),
];

impl Var {
    pub fn name(self) -> &'static str {
        ALL.iter().find(|(v, _)| *v == self).map_or("?", |(_, n)| n)
    }

    fn named(name: &str) -> Option<Var> {
        ALL.iter().find(|(_, n)| *n == name).map(|(v, _)| *v)
    }

    fn numeric(self) -> bool {
        matches!(self, Var::Seq | Var::NowMs)
    }
}

/// The values of the variables at one place.
pub trait Vars {
    fn get(&self, var: Var) -> Option<String>;
}

impl<F: Fn(Var) -> Option<String>> Vars for F {
    fn get(&self, var: Var) -> Option<String> {
        self(var)
    }
}

/// The placeholders in `s`: (start, end, name) of each `{{name}}`.
fn placeholders(s: &str) -> Vec<(usize, usize, &str)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(open) = s[from..].find("{{").map(|i| i + from) {
        let Some(close) = s[open + 2..].find("}}").map(|i| i + open + 2) else {
            break;
        };
        out.push((open, close + 2, s[open + 2..close].trim()));
        from = close + 2;
    }
    out
}

/// Checks that every placeholder in `value` is one of `allowed`.
pub fn check(value: &Value, allowed: &[Var]) -> Result<(), String> {
    let mut err = None;
    walk(value, "", &mut |at, s| {
        for (_, _, name) in placeholders(s) {
            let ok = Var::named(name).is_some_and(|v| allowed.contains(&v));
            if !ok && err.is_none() {
                let names: Vec<&str> = allowed.iter().map(|v| v.name()).collect();
                err = Some(format!(
                    "{at}: unknown variable `{{{{{name}}}}}` here; this template may use {}",
                    names
                        .iter()
                        .map(|n| format!("{{{{{n}}}}}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
    });
    err.map_or(Ok(()), Err)
}

fn walk(value: &Value, at: &str, f: &mut dyn FnMut(&str, &str)) {
    match value {
        Value::String(s) => f(if at.is_empty() { "/" } else { at }, s),
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                walk(v, &format!("{at}/{i}"), f);
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                walk(v, &format!("{at}/{k}"), f);
            }
        }
        _ => {}
    }
}

/// `value` with its placeholders filled from `vars` (a variable without a
/// value becomes the empty string).
pub fn render(value: &Value, vars: &dyn Vars) -> Value {
    match value {
        Value::String(s) => render_str(s, vars),
        Value::Array(items) => Value::Array(items.iter().map(|v| render(v, vars)).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), render(v, vars)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn render_str(s: &str, vars: &dyn Vars) -> Value {
    let found = placeholders(s);
    if let [(0, end, name)] = found[..]
        && end == s.len()
        && let Some(var) = Var::named(name).filter(|v| v.numeric())
        && let Some(n) = vars.get(var).and_then(|t| t.parse::<u64>().ok())
    {
        return Value::from(n);
    }
    let mut out = String::with_capacity(s.len());
    let mut last = 0;
    for (start, end, name) in found {
        out.push_str(&s[last..start]);
        if let Some(v) = Var::named(name).and_then(|v| vars.get(v)) {
            out.push_str(&v);
        }
        last = end;
    }
    out.push_str(&s[last..]);
    Value::String(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars(v: Var) -> Option<String> {
        match v {
            Var::Conversation => Some("c-1".into()),
            Var::Seq => Some("7".into()),
            Var::Text => Some("hi \"there\"".into()),
            _ => None,
        }
    }

    #[test]
    fn placeholders_are_filled_and_lone_numbers_stay_numbers() {
        let t = json!({"id": "{{conversation}}", "seq": "{{seq}}", "label": "n{{seq}}",
                       "msg": {"text": "{{ text }}"}, "list": ["{{conversation}}/x", 3]});
        assert_eq!(
            render(&t, &vars),
            json!({"id": "c-1", "seq": 7, "label": "n7", "msg": {"text": "hi \"there\""},
                   "list": ["c-1/x", 3]})
        );
    }

    #[test]
    fn an_unknown_or_misplaced_variable_is_named_with_its_place() {
        let t = json!({"a": {"b": ["ok", "{{text}}"]}});
        let err = check(&t, &[Var::Conversation]).unwrap_err();
        assert!(
            err.starts_with("/a/b/1: unknown variable `{{text}}`"),
            "{err}"
        );
        assert!(err.contains("{{conversation}}"), "{err}");
        assert!(check(&json!({"x": "{{conversation}}"}), &[Var::Conversation]).is_ok());
        assert!(check(&json!("{{nope}}"), &[Var::Conversation]).is_err());
    }
}
