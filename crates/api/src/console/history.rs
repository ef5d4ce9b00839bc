//! `GET /admin/metrics/history`: the last hour of the host's own metrics
//! (one sample per 10 s, from `handover_metrics::history`) for the
//! console's charts, as JSON (`MetricsHistory` in openapi.json).
//!
//! The operator key only: the metrics are process-wide and cover every
//! tenant, so a tenant key is answered 403 (and no key 401, also in the
//! open mode, like the rest of the admin API). Must never filter or label
//! figures by tenant (it has none to give) nor read anything but the
//! metrics.

use crate::{AppState, error};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use handover_engine::tenancy::Caller;
use handover_metrics::history::{self, HISTORY, Sample, Totals};
use serde::Serialize;

/// `MetricsHistory` in openapi.json.
#[derive(Serialize)]
struct Body {
    interval_s: i64,
    window_s: i64,
    now_ms: i64,
    samples: Vec<SampleBody>,
    /// The interval in progress (null before the first sample).
    current: Option<SampleBody>,
}

/// `MetricsSample` in openapi.json.
#[derive(Serialize)]
struct SampleBody {
    start_ms: i64,
    end_ms: i64,
    ended: Vec<Ended>,
    calls: u64,
    call_mean_us: Option<u64>,
    call_p50_us: Option<u64>,
    call_p99_us: Option<u64>,
    traps: Vec<Trap>,
}

#[derive(Serialize)]
struct Ended {
    status: String,
    /// The error's reason; null unless the status is `error`.
    reason: Option<String>,
    count: u64,
}

#[derive(Serialize)]
struct Trap {
    cause: String,
    count: u64,
}

impl From<Sample> for SampleBody {
    fn from(s: Sample) -> Self {
        SampleBody {
            start_ms: s.start_ms,
            end_ms: s.end_ms,
            ended: s
                .ended
                .into_iter()
                .map(|(status, reason, count)| Ended {
                    status,
                    reason: (!reason.is_empty()).then_some(reason),
                    count,
                })
                .collect(),
            calls: s.calls,
            call_mean_us: s.call_mean_us,
            call_p50_us: s.call_p50_us,
            call_p99_us: s.call_p99_us,
            traps: s
                .traps
                .into_iter()
                .map(|(cause, count)| Trap { cause, count })
                .collect(),
        }
    }
}

pub(super) async fn history(State(s): State<AppState>, headers: HeaderMap) -> Response {
    match s.caller(&headers) {
        Ok(Caller::Operator) => {}
        Ok(Caller::Tenant(_)) => {
            return error(
                StatusCode::FORBIDDEN,
                "forbidden",
                "the metrics history covers every tenant of this host: it needs the operator key",
            );
        }
        Ok(Caller::Open) | Err(_) => {
            return error(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "the metrics history needs `Authorization: Bearer <operator key>`",
            );
        }
    }
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let (samples, current) = HISTORY.snapshot(now_ms, &Totals::read());
    Json(Body {
        interval_s: history::INTERVAL_MS / 1000,
        window_s: history::WINDOW_MS / 1000,
        now_ms,
        samples: samples.into_iter().map(SampleBody::from).collect(),
        current: current.map(SampleBody::from),
    })
    .into_response()
}
