//! Server-sent events: one parser for every stream the tests read (a
//! handover's, an endpoint's), checking that each frame's `id:` is its
//! data's `id`.

use serde_json::Value;
use std::time::Duration;
use tokio::time::Instant;

/// How long a read may wait.
#[derive(Clone, Copy)]
pub enum Until {
    /// Stop at this long after the response.
    Deadline(Duration),
    /// Stop when no event came for `quiet`, or at `limit` after the response
    /// (the stream of an open handover never ends by itself).
    Quiet { quiet: Duration, limit: Duration },
    /// Stop when no event came for this long (keep-alives count).
    Idle(Duration),
    /// No limit (bound the caller).
    Forever,
}

/// An open SSE response.
pub struct SseStream {
    resp: reqwest::Response,
    buf: String,
    until: Until,
    start: Instant,
}

impl SseStream {
    /// `None` when the request fails or is not answered 200.
    pub async fn open(req: reqwest::RequestBuilder, until: Until) -> Option<SseStream> {
        let resp = req.send().await.ok()?;
        (resp.status() == 200).then(|| SseStream {
            resp,
            buf: String::new(),
            until,
            start: Instant::now(),
        })
    }

    fn deadline(&self) -> Option<Instant> {
        let now = Instant::now();
        match self.until {
            Until::Deadline(t) => Some(self.start + t),
            Until::Quiet { quiet, limit } => Some((now + quiet).min(self.start + limit)),
            Until::Idle(t) => Some(now + t),
            Until::Forever => None,
        }
    }

    /// The next event, or `None` once the stream ended, broke or timed out.
    pub async fn next(&mut self) -> Option<Value> {
        loop {
            if let Some(v) = self.frame() {
                return Some(v);
            }
            let chunk = match self.deadline() {
                Some(d) => tokio::time::timeout_at(d, self.resp.chunk()).await.ok()?,
                None => self.resp.chunk().await,
            };
            let chunk = chunk.ok()??;
            self.buf.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// The first complete data frame in the buffer (comments and
    /// keep-alives skipped).
    fn frame(&mut self) -> Option<Value> {
        while let Some(i) = self.buf.find("\n\n") {
            let frame: String = self.buf.drain(..i + 2).collect();
            let (mut id, mut data) = (None, String::new());
            for line in frame.lines() {
                if let Some(v) = line.strip_prefix("id:") {
                    id = v.trim().parse::<i64>().ok();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim_start());
                }
            }
            if data.is_empty() {
                continue;
            }
            let v: Value = serde_json::from_str(&data).unwrap();
            assert_eq!(v["id"].as_i64(), id, "SSE id and data id differ: {v}");
            return Some(v);
        }
        None
    }
}

/// The events of an SSE response (which must be 200) until `stop` returns
/// true for one, or the stream ends, or `until` says so.
pub async fn read_sse(
    req: reqwest::RequestBuilder,
    until: Until,
    mut stop: impl FnMut(&Value) -> bool,
) -> Vec<Value> {
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.url());
    let mut s = SseStream {
        resp,
        buf: String::new(),
        until,
        start: Instant::now(),
    };
    let mut events = vec![];
    while let Some(v) = s.next().await {
        let done = stop(&v);
        events.push(v);
        if done {
            break;
        }
    }
    events
}
