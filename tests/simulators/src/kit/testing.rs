//! Test helpers shared by the simulators' unit tests.

use super::{Server, lock};
use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::Value;
use std::sync::{Arc, Mutex};

/// A webhook receiver at `url`: records (headers, body) of every delivery
/// and answers the scripted `statuses` first, then 200.
#[derive(Clone)]
pub(crate) struct Receiver {
    pub got: Arc<Mutex<Vec<(HeaderMap, Bytes)>>>,
    pub statuses: Arc<Mutex<Vec<u16>>>,
    pub url: String,
    server: Arc<Server>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let got: Arc<Mutex<Vec<(HeaderMap, Bytes)>>> = Arc::default();
        let statuses: Arc<Mutex<Vec<u16>>> = Arc::default();
        let (g, s) = (got.clone(), statuses.clone());
        let app = Router::new().route(
            "/hook",
            post(move |headers: HeaderMap, body: Bytes| {
                let (got, statuses) = (g.clone(), s.clone());
                async move {
                    lock(&got).push((headers, body));
                    let mut statuses = lock(&statuses);
                    let status = if statuses.is_empty() {
                        200
                    } else {
                        statuses.remove(0)
                    };
                    StatusCode::from_u16(status).unwrap()
                }
            }),
        );
        let server = Server::start(app).await.unwrap();
        Receiver {
            got,
            statuses,
            url: format!("{}/hook", server.base_url()),
            server: Arc::new(server),
        }
    }

    pub fn bodies(&self) -> Vec<Value> {
        lock(&self.got)
            .iter()
            .map(|(_, b)| serde_json::from_slice(b).unwrap())
            .collect()
    }

    pub async fn shutdown(&self) {
        self.server.shutdown().await;
    }
}
