//! Route hints: where a contract 0.1.0 adapter's `route-webhook` has been
//! finding the correlation key in the webhook's JSON body, learned from its
//! answers, so the handover's row can be read before the webhook's instance
//! exists.
//!
//! Why: a 0.1.0 webhook runs `route-webhook` and `handle-webhook` on one
//! instance, and between the two the engine reads the handover's row. An
//! instance held across that wait goes cold while other webhooks run (at 128
//! in flight, about as much host CPU as a second instance would cost;
//! BENCHMARKS.md). With a hint the row is read first, and the instance is
//! made, routes, steps and goes in one stretch.
//!
//! Owns: learning a hint per endpoint and adapter version (a path of object
//! members to a string or integer, and the text before it in the key) and
//! predicting a key from a body. Must never decide a route: the adapter's
//! answer always does, a row read for a prediction the answer does not
//! confirm is not used, and the cost of a wrong hint is one wasted read.
//! Work on the (untrusted) body is bounded: a prediction is one scan that
//! keeps only the hint's member (nothing else of the body is built), and
//! only a miss parses the body whole and searches at most [`MAX_NODES`]
//! values at most [`MAX_DEPTH`] deep.

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use std::fmt;
use std::sync::{Arc, Mutex};

/// Deepest object member a hint may point at (`/a/b/c/d`).
const MAX_DEPTH: usize = 4;
/// Most JSON values one search looks at.
const MAX_NODES: usize = 256;
/// Wrong predictions in a row after which the endpoint stops predicting...
const MAX_MISSES: u8 = 3;
/// ...for this many webhooks, before it tries to learn again.
const BACK_OFF: u32 = 1024;

/// Where the key was found: `prefix` + the text at `path`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Hint {
    path: Vec<String>,
    prefix: String,
}

#[derive(Debug)]
enum Learned {
    /// Nothing learned yet for this adapter version (or it changed).
    Unknown,
    /// Predicting; `misses` wrong predictions in a row so far.
    Known { hint: Arc<Hint>, misses: u8 },
    /// No hint found (or too many misses): no parse until `skip` webhooks
    /// have gone by.
    BackingOff { skip: u32 },
}

/// Adapter versions of one endpoint with a hint of their own (a canary
/// serves two at once); the one used least recently makes way.
const VERSIONS: usize = 4;

/// One endpoint's hints, one per adapter version (by
/// [`LoadedAdapter::id`](handover_runtime::LoadedAdapter::id)), the most
/// recently used last.
#[derive(Debug, Default)]
pub struct RouteHints(Mutex<Vec<(u64, Learned)>>);

/// `adapter`'s entry in `versions`, made (as `Unknown`) if it has none,
/// and moved to the end.
fn entry(versions: &mut Vec<(u64, Learned)>, adapter: u64) -> &mut Learned {
    match versions.iter().position(|(id, _)| *id == adapter) {
        Some(i) => {
            let e = versions.remove(i);
            versions.push(e);
        }
        None => {
            if versions.len() == VERSIONS {
                versions.remove(0);
            }
            versions.push((adapter, Learned::Unknown));
        }
    }
    &mut versions.last_mut().expect("just pushed").1
}

/// What [`RouteHints::guess`] made of a body: whether it looked (not while
/// backing off), and the predicted key.
#[derive(Debug, Default)]
pub struct Guess {
    looked: bool,
    pub key: Option<String>,
}

impl RouteHints {
    /// The key `body` probably routes to, for adapter version `adapter`
    /// (`key: None` when there is no hint or the body does not hold it).
    pub fn guess(&self, adapter: u64, body: &[u8]) -> Guess {
        let hint = {
            let mut versions = self.0.lock().unwrap();
            match entry(&mut versions, adapter) {
                Learned::Known { hint, .. } => Some(hint.clone()),
                Learned::Unknown => None,
                Learned::BackingOff { skip } if *skip > 0 => {
                    *skip -= 1;
                    return Guess::default();
                }
                Learned::BackingOff { .. } => None,
            }
        };
        let key = hint.and_then(|h| Some(format!("{}{}", h.prefix, at(body, &h.path)?)));
        Guess { looked: true, key }
    }

    /// Records what `route-webhook` answered (`keys`) for `body`, of which
    /// `guess` was made: confirms the hint, or learns one from this body;
    /// too many misses in a row, or nothing to learn, and the endpoint
    /// backs off.
    pub fn learn(&self, adapter: u64, guess: Guess, body: &[u8], keys: &[String]) {
        let ([key], true) = (keys, guess.looked) else {
            return;
        };
        let hit = guess.key.as_deref() == Some(key.as_str());
        let found = match body.first() {
            Some(b'{') if !hit => serde_json::from_slice::<Value>(body)
                .ok()
                .and_then(|doc| find(&doc, key)),
            _ => None,
        };
        let mut versions = self.0.lock().unwrap();
        let learned = entry(&mut versions, adapter);
        let (old, misses) = match &*learned {
            Learned::Known { hint, misses } => (Some(hint.clone()), *misses),
            _ => (None, 0),
        };
        *learned = match (hit, found, old) {
            (true, _, Some(hint)) => Learned::Known { hint, misses: 0 },
            (true, _, None) => return,
            (false, _, Some(_)) if misses + 1 >= MAX_MISSES => {
                Learned::BackingOff { skip: BACK_OFF }
            }
            (false, found, Some(hint)) => Learned::Known {
                hint: found.map_or(hint, Arc::new),
                misses: misses + 1,
            },
            (false, Some(found), None) => Learned::Known {
                hint: Arc::new(found),
                misses: 0,
            },
            (false, None, None) => Learned::BackingOff { skip: BACK_OFF },
        };
    }
}

/// The text of the string or integer at `path` (object members only; of
/// a member named twice, the last, as a parsed document would keep) in the
/// JSON `body`; `None` if `body` is not one JSON object.
fn at(body: &[u8], path: &[String]) -> Option<String> {
    if body.first() != Some(&b'{') {
        return None;
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let found = At(path).deserialize(&mut de).ok()?;
    de.end().ok()?;
    found
}

/// Scans one JSON value for the text at a path, keeping nothing else.
struct At<'p>(&'p [String]);

impl<'de> DeserializeSeed<'de> for At<'_> {
    type Value = Option<String>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for At<'_> {
    type Value = Option<String>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let Some((member, rest)) = self.0.split_first() else {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return Ok(None);
        };
        let mut found = None;
        while let Some(is_member) = map.next_key_seed(NameIs(member))? {
            if is_member {
                found = map.next_value_seed(At(rest))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok((self.0.is_empty() && !v.is_empty()).then(|| v.to_string()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(self.0.is_empty().then(|| v.to_string()))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(self.0.is_empty().then(|| v.to_string()))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

/// Whether an object member's name is the one wanted (no copy of it).
struct NameIs<'p>(&'p str);

impl<'de> DeserializeSeed<'de> for NameIs<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for NameIs<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
        Ok(v == self.0)
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) if n.is_i64() || n.is_u64() => Some(n.to_string()),
        _ => None,
    }
}

/// Where in `doc` the key is: first a value equal to it, else one that is
/// the key's last token (after a prefix ending in a separator such as `:`,
/// `-` or `/`: `chatwoot:conversation:` + `42`, but not `conv-12` + `3`),
/// breadth first, members by name.
fn find(doc: &Value, key: &str) -> Option<Hint> {
    let mut values = vec![];
    let mut level: Vec<(Vec<String>, &Value)> = vec![(vec![], doc)];
    for _ in 0..MAX_DEPTH {
        let mut next = vec![];
        for (path, v) in level {
            let Some(members) = v.as_object() else {
                continue;
            };
            for (name, child) in members {
                if values.len() >= MAX_NODES {
                    break;
                }
                let mut p = path.clone();
                p.push(name.clone());
                if child.is_object() {
                    next.push((p.clone(), child));
                }
                values.push((p, child));
            }
        }
        level = next;
    }
    let texts: Vec<(Vec<String>, String)> = values
        .into_iter()
        .filter_map(|(p, v)| Some((p, text(v)?)))
        .collect();
    if let Some((path, _)) = texts.iter().find(|(_, t)| t == key) {
        return Some(Hint {
            path: path.clone(),
            prefix: String::new(),
        });
    }
    texts
        .into_iter()
        .find(|(_, t)| {
            key.strip_suffix(t.as_str())
                .and_then(|prefix| prefix.chars().last())
                .is_some_and(|c| !c.is_alphanumeric())
        })
        .map(|(path, t)| Hint {
            path,
            prefix: key[..key.len() - t.len()].to_string(),
        })
}

#[cfg(test)]
#[path = "route_hint_tests.rs"]
mod tests;
