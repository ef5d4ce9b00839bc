//! Per-call resource limits: defaults, per-endpoint overrides, merging.
//!
//! Owns the numbers only. Enforcement lives where the resource is spent
//! (store limiter, epoch callback, egress hooks, output checks in `call`).

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The largest linear memory any endpoint may be granted
/// (`runtime.max_memory_mib`), MiB: a 32-bit memory cannot exceed 4 GiB.
pub const MAX_MEMORY_MIB: u32 = 4096;

/// The limits one adapter call runs under.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Limits {
    /// Linear memory per instance, bytes.
    pub memory_bytes: usize,
    /// Wall time for the whole call (instantiation included), and the most
    /// time the guest's own code may execute in one call (I/O waits not
    /// counted: see `io_wait`).
    pub wall_time: Duration,
    /// Extra wall time, beyond `wall_time`, that a call may spend blocked in
    /// host I/O: a long poll's declared wait ([`Limits::for_long_poll`]),
    /// zero for every other call. Never lets guest code execute longer.
    pub io_wait: Duration,
    /// Fuel per call; only when the engine was built with fuel enabled.
    pub fuel: Option<u64>,
    /// Maximum provider-state size a call may return, bytes.
    pub max_state_bytes: usize,
    /// Maximum events one call may return.
    pub max_events: usize,
    /// Maximum text bytes of one event (`ProviderEvent::text_bytes`).
    pub max_event_bytes: usize,
    /// Maximum text bytes of all the events one call returns.
    pub max_call_event_bytes: usize,
    /// Log lines kept per call; later lines are counted and dropped.
    pub max_log_lines: u32,
    /// Log bytes kept per call (message + fields); later bytes are dropped.
    pub max_log_bytes: usize,
    /// Per outgoing request: connect + time to first response byte.
    pub egress_timeout: Duration,
    /// Per outgoing request: response body cap, bytes.
    pub egress_max_response_bytes: usize,
    /// Outgoing requests per call.
    pub egress_max_requests: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 64 << 20,
            wall_time: Duration::from_secs(5),
            io_wait: Duration::ZERO,
            fuel: None,
            max_state_bytes: 64 << 10,
            max_events: 256,
            max_event_bytes: 128 << 10,
            max_call_event_bytes: 1 << 20,
            max_log_lines: 200,
            max_log_bytes: 64 << 10,
            egress_timeout: Duration::from_secs(4),
            egress_max_response_bytes: 4 << 20,
            egress_max_requests: 32,
        }
    }
}

/// Overrides as written in config; unset fields keep the base value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsOverride {
    pub memory_mib: Option<u32>,
    pub wall_time_ms: Option<u64>,
    pub fuel: Option<u64>,
    pub max_state_kib: Option<u32>,
    pub max_events: Option<u32>,
    pub max_event_kib: Option<u32>,
    pub max_call_events_kib: Option<u32>,
    pub max_log_lines: Option<u32>,
    pub max_log_kib: Option<u32>,
    pub egress_timeout_ms: Option<u64>,
    pub egress_max_response_kib: Option<u32>,
    pub egress_max_requests: Option<u32>,
}

impl Limits {
    /// The limits of a long poll whose adapter declared `declared_wait`:
    /// the call may wait on I/O for that long on top of `wall_time`, but
    /// never longer than `max_wait` (the operator's `[runtime]
    /// max_poll_wait_s`), and an outgoing request may take until after the
    /// call's own deadline (so a wait past it fails naming the call's
    /// limit). Guest execution stays capped at `wall_time`.
    pub fn for_long_poll(&self, declared_wait: Duration, max_wait: Duration) -> Limits {
        let wait = declared_wait.min(max_wait);
        Limits {
            io_wait: wait,
            egress_timeout: self
                .egress_timeout
                .max(self.wall_time + wait + Duration::from_secs(1)),
            ..self.clone()
        }
    }

    /// `self` with every field set in `o` replaced.
    pub fn with(&self, o: &LimitsOverride) -> Limits {
        let mut l = self.clone();
        if let Some(v) = o.memory_mib {
            l.memory_bytes = (v as usize) << 20;
        }
        if let Some(v) = o.wall_time_ms {
            l.wall_time = Duration::from_millis(v);
        }
        if let Some(v) = o.fuel {
            l.fuel = Some(v);
        }
        if let Some(v) = o.max_state_kib {
            l.max_state_bytes = (v as usize) << 10;
        }
        if let Some(v) = o.max_events {
            l.max_events = v as usize;
        }
        if let Some(v) = o.max_event_kib {
            l.max_event_bytes = (v as usize) << 10;
        }
        if let Some(v) = o.max_call_events_kib {
            l.max_call_event_bytes = (v as usize) << 10;
        }
        if let Some(v) = o.max_log_lines {
            l.max_log_lines = v;
        }
        if let Some(v) = o.max_log_kib {
            l.max_log_bytes = (v as usize) << 10;
        }
        if let Some(v) = o.egress_timeout_ms {
            l.egress_timeout = Duration::from_millis(v);
        }
        if let Some(v) = o.egress_max_response_kib {
            l.egress_max_response_bytes = (v as usize) << 10;
        }
        if let Some(v) = o.egress_max_requests {
            l.egress_max_requests = v;
        }
        l
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn override_replaces_only_set_fields() {
        let base = Limits::default();
        let o = LimitsOverride {
            memory_mib: Some(8),
            max_events: Some(3),
            ..Default::default()
        };
        let l = base.with(&o);
        assert_eq!(l.memory_bytes, 8 << 20);
        assert_eq!(l.max_events, 3);
        assert_eq!(l.wall_time, base.wall_time);
        assert_eq!(l.max_state_bytes, 64 << 10);
    }

    #[test]
    fn a_long_poll_waits_on_io_up_to_the_operators_maximum_only() {
        let base = Limits {
            wall_time: Duration::from_secs(1),
            ..Limits::default()
        };
        let max = Duration::from_secs(60);
        // An hour declared (the finding: a 1 s quota became 3,602 s).
        let l = base.for_long_poll(Duration::from_secs(3600), max);
        assert_eq!(l.io_wait, max);
        assert_eq!(l.wall_time, base.wall_time, "execution stays capped");
        assert_eq!(l.egress_timeout, Duration::from_secs(62));
        // A declared wait under the maximum is granted as declared.
        let l = base.for_long_poll(Duration::from_secs(20), max);
        assert_eq!(l.io_wait, Duration::from_secs(20));
        assert_eq!(l.egress_timeout, Duration::from_secs(22));
        assert_eq!(base.io_wait, Duration::ZERO);
    }
}
