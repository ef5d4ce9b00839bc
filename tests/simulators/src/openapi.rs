//! Request and webhook body validation against a provider's public OpenAPI
//! 3.0 document (the copies in `shared/specs/`), with the `jsonschema`
//! crate. Provider-independent: a simulator's [`crate::kit::Gate`]
//! validates request bodies with it (Chatwoot, Sunshine, Twilio's
//! form-encoded ones, described providers), and Sunshine its webhook
//! bodies too.
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
        Ok(Self::from_raw(file_name(path), read_raw(path)?))
    }

    /// Loads `files` (from [`specs_dir`]) as one document called `name`:
    /// the `paths` and `components` of the later ones added to the first's
    /// (a provider whose API is split over several documents, e.g. Twilio's
    /// Flex and Conversations APIs served from one simulator).
    pub fn load_merged(name: &str, files: &[&str]) -> anyhow::Result<Spec> {
        let mut merged: Option<Value> = None;
        for file in files {
            let raw = read_raw(&specs_dir().join(file))?;
            match &mut merged {
                None => merged = Some(raw),
                Some(doc) => merge_into(doc, raw),
            }
        }
        let doc = merged.ok_or_else(|| anyhow::anyhow!("no OpenAPI document to load"))?;
        Ok(Self::from_raw(name.to_string(), doc))
    }

    fn from_raw(name: String, raw: Value) -> Spec {
        Spec {
            name,
            doc: Arc::new(rewrite(raw)),
            compiled: Arc::default(),
        }
    }

    /// The request body schema of `method path` (`path` exactly as in the
    /// document's `paths`, e.g. `/api/v1/accounts/{account_id}/conversations`).
    pub fn request_schema(&self, method: &str, path: &str) -> Option<String> {
        self.body_schema(method, path, "application~1json")
    }

    /// The `application/x-www-form-urlencoded` request body schema of
    /// `method path` (Twilio's APIs take form bodies).
    pub fn form_schema(&self, method: &str, path: &str) -> Option<String> {
        self.body_schema(method, path, "application~1x-www-form-urlencoded")
    }

    fn body_schema(&self, method: &str, path: &str, media: &str) -> Option<String> {
        let pointer = format!(
            "/paths/{}/{}/requestBody/content/{media}/schema",
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
        self.check_request_as(method, template, actual_path, None, body)
    }

    /// [`Spec::check_request`] knowing the request's `content-type`: an
    /// operation whose spec body is form-encoded gets the body parsed as a
    /// form (values converted to the schema's integer/number/boolean types,
    /// repeated names collected for arrays) and validated against the form
    /// schema; a form operation sent another content type is a violation.
    /// Without a content type, a form schema is used when the operation has
    /// no JSON one.
    pub fn check_request_as(
        &self,
        method: &str,
        template: &str,
        actual_path: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Option<Violation> {
        let what = format!("{method} {actual_path}");
        let json_schema = self.request_schema(method, template);
        let form_schema = self.form_schema(method, template);
        let sent_form = content_type.is_some_and(|c| {
            c.trim()
                .to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
        let empty = body.iter().all(u8::is_ascii_whitespace);
        let (pointer, media) = match (json_schema, form_schema) {
            (None, None) => {
                if empty {
                    return None;
                }
                return Some(self.violation(
                    what,
                    format!("{method} {template}"),
                    vec!["the spec defines no request body for this operation".into()],
                    body,
                ));
            }
            (Some(json), None) => (json, "/content/application~1json/schema"),
            (Some(json), Some(_)) if !sent_form => (json, "/content/application~1json/schema"),
            (_, Some(form)) => (form, "/content/application~1x-www-form-urlencoded/schema"),
        };
        if empty {
            let required = self
                .doc
                .pointer(pointer.trim_end_matches(media))
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
        let value = if media.contains("x-www-form-urlencoded") {
            if let Some(ct) = content_type.filter(|_| !sent_form) {
                return Some(self.violation(
                    what,
                    pointer,
                    vec![format!(
                        "content-type `{ct}`; the operation takes application/x-www-form-urlencoded"
                    )],
                    body,
                ));
            }
            let schema = self.doc.pointer(&pointer).unwrap_or(&Value::Null);
            let pairs = crate::kit::form_pairs(&String::from_utf8_lossy(body));
            form_object(&self.doc, schema, pairs)
        } else {
            match serde_json::from_slice(body) {
                Ok(v) => v,
                Err(e) => {
                    return Some(self.violation(
                        what,
                        pointer,
                        vec![format!("not JSON: {e}")],
                        body,
                    ));
                }
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

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The document at `path` (JSON, or YAML when it ends in `.yaml`/`.yml`).
fn read_raw(path: &Path) -> anyhow::Result<Value> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        anyhow::anyhow!(
            "cannot read the OpenAPI document {} ({e}); set HANDOVER_SPECS_DIR to a directory holding the provider specs (see tests/simulators/specs/SOURCES.md)",
            path.display()
        )
    })?;
    Ok(
        if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            serde_yaml::from_str(&text)?
        } else {
            serde_json::from_str(&text)?
        },
    )
}

/// Adds `more`'s `paths` and each `components` section's entries to `doc`'s
/// (`doc`'s entries win on a clash).
fn merge_into(doc: &mut Value, more: Value) {
    let Value::Object(more) = more else { return };
    let Value::Object(out) = doc else { return };
    for (key, value) in more {
        match (key.as_str(), value) {
            ("paths", Value::Object(paths)) => {
                let target = out.entry("paths").or_insert_with(|| json!({}));
                if let Value::Object(target) = target {
                    for (k, v) in paths {
                        target.entry(k).or_insert(v);
                    }
                }
            }
            ("components", Value::Object(sections)) => {
                let target = out.entry("components").or_insert_with(|| json!({}));
                let Value::Object(target) = target else {
                    continue;
                };
                for (section, entries) in sections {
                    let dest = target.entry(section).or_insert_with(|| json!({}));
                    if let (Value::Object(dest), Value::Object(entries)) = (dest, entries) {
                        for (k, v) in entries {
                            dest.entry(k).or_insert(v);
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

/// The (name, value) pairs of a form body as a JSON object for the form
/// schema at `schema`: a property typed `integer`/`number`/`boolean` gets
/// its value converted when it parses as one (else it stays a string and
/// fails validation), an `array` property collects its repeated values;
/// everything else stays a string (the last of repeated names wins).
fn form_object(doc: &Value, schema: &Value, pairs: Vec<(String, String)>) -> Value {
    let props = resolve(doc, schema)
        .get("properties")
        .and_then(Value::as_object);
    let mut out = Map::new();
    for (name, value) in pairs {
        let prop = props
            .and_then(|p| p.get(&name))
            .map(|p| resolve(doc, p))
            .unwrap_or(&Value::Null);
        if schema_type(doc, prop) == Some("array") {
            let items = prop.get("items").map(|i| resolve(doc, i));
            let item = coerce(doc, items.unwrap_or(&Value::Null), value);
            match out.entry(name).or_insert_with(|| json!([])) {
                Value::Array(a) => a.push(item),
                other => *other = json!([item]),
            }
        } else {
            out.insert(name, coerce(doc, prop, value));
        }
    }
    Value::Object(out)
}

/// A form string as the schema's scalar type, when it parses as one.
fn coerce(doc: &Value, schema: &Value, value: String) -> Value {
    match schema_type(doc, schema) {
        Some("integer") => value
            .trim()
            .parse::<i64>()
            .map_or(Value::String(value), |n| json!(n)),
        Some("number") => match value.trim().parse::<f64>() {
            Ok(n) if n.is_finite() => json!(n),
            _ => Value::String(value),
        },
        Some("boolean") => match value.trim().to_ascii_lowercase().as_str() {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => Value::String(value),
        },
        _ => Value::String(value),
    }
}

/// The schema's `type` (following `$ref`s, and the non-null branch of a
/// rewritten `nullable`).
fn schema_type<'a>(doc: &'a Value, schema: &'a Value) -> Option<&'a str> {
    let schema = resolve(doc, schema);
    if let Some(t) = schema.get("type").and_then(Value::as_str) {
        return Some(t);
    }
    schema
        .get("anyOf")
        .or_else(|| schema.get("allOf"))
        .and_then(Value::as_array)?
        .iter()
        .find_map(|s| schema_type(doc, s).filter(|t| *t != "null"))
}

/// Follows `$ref: #/...` pointers (up to 16) within `doc`.
fn resolve<'a>(doc: &'a Value, mut schema: &'a Value) -> &'a Value {
    for _ in 0..16 {
        match schema
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix('#'))
            .and_then(|p| doc.pointer(p))
        {
            Some(target) => schema = target,
            None => break,
        }
    }
    schema
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

    /// A spec with one form operation (Twilio style) and one JSON operation.
    fn form_spec() -> Spec {
        let form = json!({
            "type": "object",
            "properties": {
                "Body": {"type": "string"},
                "Index": {"type": "integer"},
                "Ratio": {"type": "number"},
                "Enabled": {"type": "boolean"},
                "State": {"$ref": "#/components/schemas/state"},
                "Tags": {"type": "array", "items": {"type": "integer"}}
            },
            "required": ["Body"],
            "additionalProperties": false
        });
        Spec::from_raw(
            "t.json".into(),
            json!({
                "paths": {
                    "/v1/Things": {"post": {"requestBody": {"required": true, "content": {
                        "application/x-www-form-urlencoded": {"schema": form}}}}},
                    "/v1/Json": {"post": {"requestBody": {"content": {
                        "application/json": {"schema": {"type": "object", "required": ["a"]}}}}}}
                },
                "components": {"schemas": {"state": {"type": "string", "enum": ["active", "closed"]}}}
            }),
        )
    }

    const FORM: Option<&str> = Some("application/x-www-form-urlencoded");

    fn check_form(spec: &Spec, body: &str) -> Option<Violation> {
        spec.check_request_as("POST", "/v1/Things", "/v1/Things", FORM, body.as_bytes())
    }

    #[test]
    fn form_bodies_are_coerced_and_validated() {
        let spec = form_spec();
        assert!(
            check_form(
                &spec,
                "Body=hi+there&Index=3&Ratio=0.5&Enabled=True&State=closed"
            )
            .is_none()
        );
        assert!(check_form(&spec, "Body=x&Tags=1&Tags=2").is_none());
        // Form strings that do not parse as the schema's type stay strings.
        let v = check_form(&spec, "Body=x&Index=three").expect("not an integer");
        assert!(v.errors.join(" ").contains("/Index"), "{v}");
        assert!(check_form(&spec, "Body=x&Enabled=yes").is_some());
        assert!(check_form(&spec, "Body=x&Tags=1&Tags=b").is_some());
        // `$ref` enums, required fields, unknown fields.
        assert!(check_form(&spec, "Body=x&State=open").is_some());
        let v = check_form(&spec, "Index=1").expect("Body is required");
        assert!(v.errors.join(" ").contains("Body"), "{v}");
        assert!(check_form(&spec, "Body=x&Other=1").is_some());
        // A required body that is missing.
        let v = check_form(&spec, "").expect("required body");
        assert_eq!(v.errors, ["request body is required"]);
        assert!(
            v.schema.ends_with("x-www-form-urlencoded/schema"),
            "{}",
            v.schema
        );
    }

    #[test]
    fn form_operations_refuse_other_content_types() {
        let spec = form_spec();
        let v = spec
            .check_request_as(
                "POST",
                "/v1/Things",
                "/v1/Things",
                Some("application/json"),
                br#"{"Body":"x"}"#,
            )
            .expect("JSON to a form operation");
        assert!(v.errors[0].contains("application/json"), "{v}");
        // Without a content type, the form schema applies.
        assert!(
            spec.check_request("POST", "/v1/Things", "/v1/Things", b"Body=x")
                .is_none()
        );
        // JSON operations are unchanged.
        assert!(
            spec.check_request("POST", "/v1/Json", "/v1/Json", br#"{"a":1}"#)
                .is_none()
        );
        assert!(
            spec.check_request("POST", "/v1/Json", "/v1/Json", b"a=1")
                .is_some()
        );
    }

    #[test]
    fn merged_documents_keep_both_paths_and_components() {
        let mut doc =
            json!({"paths": {"/a": {}}, "components": {"schemas": {"x": {"type": "string"}}}});
        merge_into(
            &mut doc,
            json!({"paths": {"/b": {}, "/a": {"get": {}}},
                   "components": {"schemas": {"y": {}, "x": {"type": "integer"}}, "securitySchemes": {"s": {}}}}),
        );
        assert_eq!(doc["paths"]["/a"], json!({}), "the first document wins");
        assert!(doc["paths"]["/b"].is_object());
        assert_eq!(doc["components"]["schemas"]["x"]["type"], "string");
        assert!(doc["components"]["schemas"]["y"].is_object());
        assert!(doc["components"]["securitySchemes"]["s"].is_object());
    }
}
