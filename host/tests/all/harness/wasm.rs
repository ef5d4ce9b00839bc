//! In-process helpers for the tests that drive the runtime directly (no
//! binary): a runtime, loaded guests, call environments, a loopback HTTP
//! server and a `tracing` capture.

use handover_host::model::{CallContext, Conversation};
use handover_host::runtime::egress::{CallLabels, EgressPolicy, Resolver};
use handover_host::runtime::{CallEnv, Limits, LoadedAdapter, Runtime, RuntimeConfig};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

pub use super::{guest, guest_bytes};

pub fn runtime() -> Arc<Runtime> {
    Runtime::new(RuntimeConfig {
        max_instances: 64,
        ..Default::default()
    })
    .unwrap()
}

pub async fn load(rt: &Arc<Runtime>, name: &str) -> Arc<LoadedAdapter> {
    rt.load(&guest_bytes(name))
        .await
        .unwrap_or_else(|e| panic!("load {name}: {e}"))
}

pub fn env(limits: Limits, allow: &[&str], resolve: &[(&str, &str)]) -> CallEnv {
    let overrides: HashMap<String, Vec<IpAddr>> = resolve
        .iter()
        .map(|(h, ip)| (h.to_string(), vec![ip.parse().unwrap()]))
        .collect();
    CallEnv {
        limits,
        policy: Arc::new(EgressPolicy::parse(allow).unwrap()),
        resolver: Arc::new(Resolver::with_overrides(overrides)),
        credentials: None,
        cpu: None,
        observer: None,
        tap: None,
        tape: None,
        labels: Arc::new(CallLabels {
            tenant: "t1".into(),
            endpoint: "ep1".into(),
            adapter: "fixture".into(),
        }),
    }
}

pub fn ctx(settings: &str) -> CallContext {
    CallContext {
        handover_id: "h-1".into(),
        settings: settings.into(),
    }
}

pub fn conversation() -> Conversation {
    Conversation {
        handover_id: "h-1".into(),
        session_id: "s-1".into(),
        user_id: "u-1".into(),
        channel: "webchat".into(),
        locale: "en-US".into(),
        context: "{}".into(),
        ..Default::default()
    }
}

/// Resident set size of this process, bytes.
pub fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

/// A loopback HTTP server answering every request with `body` after `delay`.
pub async fn http_server(
    body: Vec<u8>,
    delay: std::time::Duration,
) -> (u16, Arc<std::sync::atomic::AtomicUsize>) {
    let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let h = hits.clone();
    let app = axum::Router::new().fallback(move || {
        let body = body.clone();
        let h = h.clone();
        async move {
            h.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::time::sleep(delay).await;
            body
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (port, hits)
}

/// Captures `tracing` output emitted on the current thread while it lives.
///
/// One global subscriber routes each thread's output to that thread's active
/// capture (per-thread default subscribers race on tracing's global
/// callsite-interest cache when tests run in parallel).
pub struct LogCapture {
    buf: Arc<std::sync::Mutex<Vec<u8>>>,
}

thread_local! {
    static CAPTURE: std::cell::RefCell<Option<Arc<std::sync::Mutex<Vec<u8>>>>> = const { std::cell::RefCell::new(None) };
}

impl LogCapture {
    pub fn start() -> Self {
        static INIT: std::sync::Once = std::sync::Once::new();
        INIT.call_once(|| {
            let sub = tracing_subscriber::fmt()
                .with_max_level(tracing::Level::TRACE)
                .with_ansi(false)
                .with_writer(|| Writer)
                .finish();
            tracing::subscriber::set_global_default(sub).unwrap();
        });
        let buf = Arc::new(std::sync::Mutex::new(Vec::new()));
        CAPTURE.with(|c| *c.borrow_mut() = Some(buf.clone()));
        LogCapture { buf }
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.buf.lock().unwrap()).to_string()
    }
}

impl Drop for LogCapture {
    fn drop(&mut self) {
        CAPTURE.with(|c| *c.borrow_mut() = None);
    }
}

struct Writer;

impl std::io::Write for Writer {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        CAPTURE.with(|c| {
            if let Some(buf) = c.borrow().as_ref() {
                buf.lock().unwrap().extend_from_slice(b);
            }
        });
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
