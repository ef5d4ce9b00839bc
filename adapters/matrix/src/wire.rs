//! The Matrix client-server API documents the adapter sends and reads
//! (spec v1.x, `/_matrix/client/v3`), plus the room filter it syncs with.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// `POST /createRoom` request body.
#[derive(Serialize)]
pub struct CreateRoom<'a> {
    pub preset: &'static str,
    pub visibility: &'static str,
    pub invite: &'a [String],
    pub name: String,
    pub topic: String,
    pub is_direct: bool,
}

/// `POST /createRoom` response body.
#[derive(Deserialize)]
pub struct RoomCreated {
    pub room_id: String,
}

/// `GET /account/whoami` response body.
#[derive(Deserialize)]
pub struct WhoAmI {
    pub user_id: String,
}

/// `GET /presence/{userId}/status` response body.
#[derive(Deserialize)]
pub struct Presence {
    pub presence: String,
}

/// `m.room.message` content the bot sends.
#[derive(Serialize)]
pub struct Message {
    /// `m.text` for user lines, `m.notice` for bot and system lines.
    pub msgtype: &'static str,
    pub body: String,
    /// What the message is (`intro`, `transcript`, `user`, `end`), so agent
    /// tooling can tell the bot's messages apart; clients ignore the key.
    #[serde(rename = "io.handover.kind")]
    pub kind: &'static str,
    /// Why the bot leaves (`cancel`, `close`, `agent-closed`, …), on `end` notices.
    #[serde(rename = "io.handover.end", skip_serializing_if = "Option::is_none")]
    pub end: Option<&'static str>,
    /// The handover's routing and profile as data, on the `intro` notice.
    #[serde(
        rename = "io.handover.routing",
        skip_serializing_if = "Option::is_none"
    )]
    pub routing: Option<Value>,
}

impl Message {
    pub fn text(kind: &'static str, body: impl Into<String>) -> Self {
        Self::new("m.text", kind, body)
    }

    pub fn notice(kind: &'static str, body: impl Into<String>) -> Self {
        Self::new("m.notice", kind, body)
    }

    fn new(msgtype: &'static str, kind: &'static str, body: impl Into<String>) -> Self {
        Message {
            msgtype,
            body: body.into(),
            kind,
            end: None,
            routing: None,
        }
    }
}

/// `POST /rooms/{roomId}/kick` body (also rescinds a pending invite).
#[derive(Serialize)]
pub struct Kick<'a> {
    pub user_id: &'a str,
    pub reason: &'a str,
}

/// The empty body of `POST /rooms/{roomId}/leave`.
#[derive(Serialize)]
pub struct Empty {}

/// Event types the adapter reads from the room timeline.
const TIMELINE_TYPES: [&str; 2] = ["m.room.message", "m.room.member"];

/// The `/sync` filter (inline JSON): only this room, only messages and
/// membership in the timeline, membership state, typing; no presence or
/// account data.
pub fn sync_filter(room_id: &str, timeline_limit: u32) -> String {
    json!({
        "presence": {"not_types": ["*"]},
        "account_data": {"not_types": ["*"]},
        "room": {
            "rooms": [room_id],
            "include_leave": true,
            "timeline": {"limit": timeline_limit, "types": TIMELINE_TYPES},
            "state": {"types": ["m.room.member"], "lazy_load_members": false},
            "ephemeral": {"types": ["m.typing"]},
            "account_data": {"not_types": ["*"]},
        },
    })
    .to_string()
}

/// The `/rooms/{roomId}/messages` filter used to fill a timeline gap.
pub fn messages_filter() -> String {
    json!({"types": TIMELINE_TYPES}).to_string()
}

/// `GET /sync` response body (the parts the adapter reads).
#[derive(Deserialize)]
pub struct SyncResponse {
    pub next_batch: String,
    #[serde(default)]
    pub rooms: Rooms,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct Rooms {
    pub join: BTreeMap<String, SyncRoom>,
    /// Rooms the bot left or was removed from since the last sync.
    pub leave: BTreeMap<String, SyncRoom>,
}

/// One room of a sync response (joined or left).
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct SyncRoom {
    pub state: EventList,
    pub timeline: Timeline,
    pub ephemeral: EventList,
}

#[derive(Deserialize, Default)]
pub struct EventList {
    #[serde(default)]
    pub events: Vec<RoomEvent>,
}

#[derive(Deserialize, Default)]
pub struct Timeline {
    #[serde(default)]
    pub events: Vec<RoomEvent>,
    /// More events happened since the last sync than the filter's limit:
    /// the ones before `prev_batch` must be fetched with `/messages`.
    #[serde(default)]
    pub limited: bool,
    pub prev_batch: Option<String>,
}

/// A room event as the client-server API returns it. `content` stays
/// untyped: clients send all sorts of content and a malformed event must
/// not fail the whole sync.
#[derive(Deserialize, Clone, Debug)]
pub struct RoomEvent {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub sender: String,
    pub state_key: Option<String>,
    #[serde(default)]
    pub content: Value,
}

impl RoomEvent {
    /// A string field of the content.
    pub fn text(&self, key: &str) -> Option<&str> {
        self.content.get(key).and_then(Value::as_str)
    }
}

impl SyncResponse {
    /// This response's part for `room_id` (empty if the room is not in it).
    pub fn take_room(&mut self, room_id: &str) -> SyncRoom {
        self.rooms
            .join
            .remove(room_id)
            .or_else(|| self.rooms.leave.remove(room_id))
            .unwrap_or_default()
    }
}

/// `GET /rooms/{roomId}/messages` response body.
#[derive(Deserialize)]
pub struct MessagesPage {
    #[serde(default)]
    pub chunk: Vec<RoomEvent>,
    pub end: Option<String>,
}
