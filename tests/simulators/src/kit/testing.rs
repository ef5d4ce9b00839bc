//! Test helpers shared by the simulators' unit tests.

use super::{PushesWebhooks, Server, Simulator, lock};
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

    /// A receiver that `sim` sends its webhooks to from now on.
    pub async fn hooked_to<P: PushesWebhooks>(sim: &Simulator<P>) -> Receiver {
        let receiver = Receiver::start().await;
        sim.set_webhook_url(Some(receiver.url.clone()));
        receiver
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

/// The status of `response` and its JSON body (`null` when it has none).
pub(crate) async fn status_and_json(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A JSON API client: requests go to `base` + path, with the credentials
/// `auth` adds.
pub(crate) struct ApiClient {
    http: reqwest::Client,
    base: String,
    auth: Box<dyn Fn(reqwest::RequestBuilder) -> reqwest::RequestBuilder + Send + Sync>,
}

impl ApiClient {
    pub fn new(
        base: String,
        auth: impl Fn(reqwest::RequestBuilder) -> reqwest::RequestBuilder + Send + Sync + 'static,
    ) -> ApiClient {
        ApiClient {
            http: reqwest::Client::new(),
            base,
            auth: Box::new(auth),
        }
    }

    /// `method` `path` with `body` as JSON, if any: the status and the JSON
    /// answer (`null` when there is none).
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let req = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.base));
        let mut req = (self.auth)(req);
        if let Some(b) = body {
            req = req.json(&b);
        }
        status_and_json(req.send().await.unwrap()).await
    }
}
