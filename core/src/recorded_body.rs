//! How a recorded HTTP body is written (replay recordings: an adapter's
//! outgoing exchanges): UTF-8 text as a JSON string, readable and what
//! recordings before this format held; any other bytes as
//! `{"base64": "…"}`. Both read back byte for byte.
//!
//! Must never: change a body's bytes on the way through (a replay answers
//! the adapter with what was recorded).
//!
//! Use with `#[serde(with = "handover_core::recorded_body")]` on a
//! `Vec<u8>`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::de::Error as _;
use serde::ser::SerializeMap as _;
use serde::{Deserialize, Deserializer, Serializer};

pub fn serialize<S: Serializer>(body: &[u8], s: S) -> Result<S::Ok, S::Error> {
    match std::str::from_utf8(body) {
        Ok(text) => s.serialize_str(text),
        Err(_) => {
            let mut m = s.serialize_map(Some(1))?;
            m.serialize_entry("base64", &STANDARD.encode(body))?;
            m.end()
        }
    }
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Repr {
        Text(String),
        Binary { base64: String },
    }
    match Repr::deserialize(d)? {
        Repr::Text(text) => Ok(text.into_bytes()),
        Repr::Binary { base64 } => STANDARD.decode(base64).map_err(|e| {
            D::Error::custom(format!("a recorded body's base64 does not decode: {e}"))
        }),
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};
    use serde_json::json;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Held {
        #[serde(with = "super")]
        body: Vec<u8>,
    }

    fn round_trip(body: &[u8]) -> serde_json::Value {
        let held = Held {
            body: body.to_vec(),
        };
        let v = serde_json::to_value(&held).unwrap();
        let back: Held = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(back, held, "{v}");
        v
    }

    #[test]
    fn text_is_a_string_and_other_bytes_are_base64_both_exact() {
        assert_eq!(
            round_trip(b"{\"ok\":true}"),
            json!({"body": "{\"ok\":true}"})
        );
        assert_eq!(round_trip(b""), json!({"body": ""}));
        // Not UTF-8 (a gzip header, a lone continuation byte): kept exactly.
        let binary = [0x1f, 0x8b, 0x08, 0x00, 0xff, 0x80, b'a'];
        assert_eq!(
            round_trip(&binary),
            json!({"body": {"base64": "H4sIAP+AYQ=="}})
        );
    }

    #[test]
    fn a_broken_base64_body_is_refused_with_what_is_wrong() {
        let err = serde_json::from_value::<Held>(json!({"body": {"base64": "%%"}})).unwrap_err();
        assert!(err.to_string().contains("base64"), "{err}");
    }
}
