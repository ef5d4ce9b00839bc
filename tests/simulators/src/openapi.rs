//! Request and webhook body validation against a provider's public OpenAPI
//! 3.0 document (the copies in `shared/specs/`), with the `jsonschema`
//! crate. Provider-independent: a simulator's [`crate::kit::Gate`]
//! validates request bodies with it (Chatwoot, Sunshine), and Sunshine its
//! webhook bodies too.
//!
//! OpenAPI 3.0 schemas are JSON Schema draft-4/5 dialect plus a few
//! keywords; before compiling, the document is rewritten once:
//! - `nullable: true` → `anyOf: [{type: null}, <the schema>]` (also when the
//!   schema has no `type`, which the Sunshine document does; Prism skips
//!   those bodies, this validator does not);
//! - `oneOf` + `discriminator` → one `if`/`then` per mapped value (explicit
//!   `mapping`, else the referenced schemas' names), and the property must
//!   be one of the mapped values. Without this, a text message validates
//!   against several `oneOf` branches at once and is wrongly rejected.
//!
//! `$ref`s stay `#/components/...` pointers into the same document: each
//! validator compiles the whole rewritten document with a root `$ref` to
//! the operation's schema (draft 7 ignores the root's other keys).

use jsonschema::Validator;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The directory holding the specs: `$HANDOVER_SPECS_DIR`, else the
/// unmodified copies in `tests/simulators/specs/` (see its `SOURCES.md`),
/// so a fresh clone needs nothing outside the repository.
pub fn specs_dir() -> PathBuf {
    match std::env::var_os("HANDOVER_SPECS_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/specs")),
    }
}

/// One body that broke the spec.
#[derive(Debug, Clone)]
pub struct Violation {
    /// e.g. `POST /api/v1/accounts/1/conversations` or `webhook conversation:message`.
    pub what: String,
    /// The spec location validated against.
    pub schema: String,
    pub errors: Vec<String>,
    pub body: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} breaks {}: {}; body: {}",
            self.what,
            self.schema,
            self.errors.join("; "),
            self.body
        )
    }
}

/// A loaded, rewritten OpenAPI document with compiled validators cached
/// per schema location. Cheap to clone.
#[derive(Clone)]
pub struct Spec {
    name: String,
    doc: Arc<Value>,
    compiled: Arc<Mutex<HashMap<String, Arc<Validator>>>>,
}

impl Spec {
    /// Loads `file` (JSON, or YAML when it ends in `.yaml`/`.yml`) from [`specs_dir`].
    pub fn load(file: &str) -> anyhow::Result<Spec> {
        let path = specs_dir().join(file);
        Self::load_path(&path)
    }

    pub fn load_path(path: &Path) -> anyhow::Result<Spec> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            anyhow::anyhow!(
                "cannot read the OpenAPI document {} ({e}); set HANDOVER_SPECS_DIR to a directory holding chatwoot/swagger.json and sunshine/openapi.yaml",
                path.display()
            )
        })?;
        let raw: Value = if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            serde_yaml::from_str(&text)?
        } else {
            serde_json::from_str(&text)?
        };
        Ok(Spec {
            name: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            doc: Arc::new(rewrite(raw)),
            compiled: Arc::default(),
        })
    }

    /// The request body schema of `method path` (`path` exactly as in the
    /// document's `paths`, e.g. `/api/v1/accounts/{account_id}/conversations`).
    pub fn request_schema(&self, method: &str, path: &str) -> Option<String> {
        let pointer = format!(
            "/paths/{}/{}/requestBody/content/application~1json/schema",
            escape(path),
            method.to_ascii_lowercase()
        );
        self.doc.pointer(&pointer).map(|_| pointer)
    }

    /// The pointer of the component schema whose `title` is `title` (the
    /// Sunshine spec titles each webhook event schema with its event type).
    pub fn schema_titled(&self, title: &str) -> Option<String> {
        let schemas = self.doc.pointer("/components/schemas")?.as_object()?;
        schemas
            .iter()
            .find(|(_, s)| s.get("title").and_then(Value::as_str) == Some(title))
            .map(|(name, _)| format!("/components/schemas/{}", escape(name)))
    }

    /// Validates `body` against the schema at JSON pointer `pointer`;
    /// returns the error messages (empty when valid).
    pub fn check(&self, pointer: &str, body: &Value) -> Vec<String> {
        let validator = match self.validator(pointer) {
            Ok(v) => v,
            Err(e) => return vec![format!("cannot compile {pointer}: {e}")],
        };
        validator
            .iter_errors(body)
            .map(|e| {
                let at = e.instance_path().to_string();
                if at.is_empty() {
                    e.to_string()
                } else {
                    format!("{at}: {e}")
                }
            })
            .collect()
    }

    /// Validates a request body (raw bytes) of `method path`: a violation when
    /// the body is not JSON or breaks the schema; `None` when valid or when
    /// the operation has no JSON body schema and the body is empty.
    pub fn check_request(
        &self,
        method: &str,
        template: &str,
        actual_path: &str,
        body: &[u8],
    ) -> Option<Violation> {
        let what = format!("{method} {actual_path}");
        let Some(pointer) = self.request_schema(method, template) else {
            if body.iter().all(u8::is_ascii_whitespace) {
                return None;
            }
            return Some(self.violation(
                what,
                format!("{method} {template}"),
                vec!["the spec defines no JSON request body for this operation".into()],
                body,
            ));
        };
        if body.iter().all(u8::is_ascii_whitespace) {
            let required = self
                .doc
                .pointer(pointer.trim_end_matches("/content/application~1json/schema"))
                .and_then(|rb| rb.get("required"))
                .and_then(Value::as_bool)
                .unwrap_or(false);
            return required.then(|| {
                self.violation(
                    what,
                    pointer.clone(),
                    vec!["request body is required".into()],
                    body,
                )
            });
        }
        let value: Value = match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => {
                return Some(self.violation(what, pointer, vec![format!("not JSON: {e}")], body));
            }
        };
        let errors = self.check(&pointer, &value);
        (!errors.is_empty()).then(|| self.violation(what, pointer, errors, body))
    }

    /// Validates `value` against `pointer`, describing it as `what`.
    pub fn check_value(&self, what: &str, pointer: &str, value: &Value) -> Option<Violation> {
        let errors = self.check(pointer, value);
        (!errors.is_empty()).then(|| {
            self.violation(
                what.to_string(),
                pointer.to_string(),
                errors,
                value.to_string().as_bytes(),
            )
        })
    }

    fn violation(
        &self,
        what: String,
        schema: String,
        errors: Vec<String>,
        body: &[u8],
    ) -> Violation {
        let mut body = String::from_utf8_lossy(body).into_owned();
        if body.len() > 2000 {
            let mut end = 2000;
            while !body.is_char_boundary(end) {
                end -= 1;
            }
            body.truncate(end);
            body.push('…');
        }
        Violation {
            what,
            schema: format!("{}#{schema}", self.name),
            errors,
            body,
        }
    }

    fn validator(&self, pointer: &str) -> anyhow::Result<Arc<Validator>> {
        if let Some(v) = self.compiled.lock().unwrap().get(pointer) {
            return Ok(v.clone());
        }
        let target = self
            .doc
            .pointer(pointer)
            .ok_or_else(|| anyhow::anyhow!("no schema at {pointer}"))?
            .clone();
        // The whole document (so `#/components/...` resolves) with a root
        // `$ref` to a copy of the target schema.
        let mut root = (*self.doc).clone();
        if let Value::Object(m) = &mut root {
            m.insert("x-validation-target".into(), target);
            m.insert("$ref".into(), json!("#/x-validation-target"));
        }
        let validator = jsonschema::draft7::options()
            .should_validate_formats(true)
            .should_ignore_unknown_formats(true)
            .build(&root)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let validator = Arc::new(validator);
        self.compiled
            .lock()
            .unwrap()
            .insert(pointer.to_string(), validator.clone());
        Ok(validator)
    }
}

/// JSON pointer escaping of one token.
fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// The OpenAPI → JSON Schema rewrite described in the module docs.
pub fn rewrite(value: Value) -> Value {
    match value {
        Value::Object(map) => rewrite_object(map),
        Value::Array(items) => Value::Array(items.into_iter().map(rewrite).collect()),
        other => other,
    }
}

fn rewrite_object(map: Map<String, Value>) -> Value {
    let mut out = Map::new();
    for (key, value) in map {
        // Examples are data, not schemas.
        if key == "example" || key == "examples" {
            out.insert(key, value);
        } else {
            out.insert(key, rewrite(value));
        }
    }
    if let (Some(Value::Object(disc)), Some(Value::Array(one_of))) =
        (out.get("discriminator").cloned(), out.get("oneOf").cloned())
    {
        let property = disc
            .get("propertyName")
            .and_then(Value::as_str)
            .unwrap_or("type")
            .to_string();
        let mut mapping: Vec<(String, String)> = disc
            .get("mapping")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default();
        if mapping.is_empty() {
            mapping = one_of
                .iter()
                .filter_map(|s| s.get("$ref")?.as_str())
                .map(|r| (r.rsplit('/').next().unwrap_or(r).to_string(), r.to_string()))
                .collect();
        }
        out.remove("oneOf");
        out.remove("discriminator");
        let values: Vec<&str> = mapping.iter().map(|(k, _)| k.as_str()).collect();
        let mut all_of = match out.remove("allOf") {
            Some(Value::Array(a)) => a,
            _ => Vec::new(),
        };
        all_of.push(json!({
            "required": [property],
            "properties": { property.as_str(): { "enum": values } }
        }));
        for (value, target) in &mapping {
            all_of.push(json!({
                "if": { "properties": { property.as_str(): { "const": value } }, "required": [property] },
                "then": { "$ref": target }
            }));
        }
        out.insert("allOf".into(), Value::Array(all_of));
    }
    match out.remove("nullable") {
        Some(Value::Bool(true)) => json!({ "anyOf": [ { "type": "null" }, Value::Object(out) ] }),
        _ => Value::Object(out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nullable_and_discriminator_rewrites() {
        let doc = rewrite(json!({
            "components": {"schemas": {
                "a": {"type": "object", "properties": {"type": {"type": "string"}, "x": {"type": "string"}}, "required": ["type", "x"]},
                "b": {"type": "object", "properties": {"type": {"type": "string"}}, "required": ["type"]},
                "u": {"oneOf": [{"$ref": "#/components/schemas/a"}, {"$ref": "#/components/schemas/b"}],
                      "discriminator": {"propertyName": "type"}},
                "n": {"nullable": true, "allOf": [{"$ref": "#/components/schemas/b"}]}
            }}
        }));
        let spec = Spec {
            name: "t".into(),
            doc: Arc::new(doc),
            compiled: Arc::default(),
        };
        let u = "/components/schemas/u";
        assert!(spec.check(u, &json!({"type": "b"})).is_empty());
        assert!(spec.check(u, &json!({"type": "a", "x": "1"})).is_empty());
        assert!(
            !spec.check(u, &json!({"type": "a"})).is_empty(),
            "a needs x"
        );
        assert!(
            !spec.check(u, &json!({"type": "c"})).is_empty(),
            "unknown type"
        );
        let n = "/components/schemas/n";
        assert!(spec.check(n, &Value::Null).is_empty());
        assert!(spec.check(n, &json!({"type": "b"})).is_empty());
        assert!(!spec.check(n, &json!(3)).is_empty());
    }
}
