//! The CPU budget a group of calls shares (a tenant's adapter CPU time per
//! second). The runtime charges it from the epoch callback; who owns a
//! budget (tenants) is the engine's business, not the runtime's.
//! Never blocks: `charge` only answers how long the caller must pause.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Adapter CPU time per one-second window, shared by a tenant's calls.
pub struct CpuBudget {
    per_second: Duration,
    window: Mutex<(Instant, Duration)>,
}

impl CpuBudget {
    pub fn new(per_second: Duration) -> Self {
        CpuBudget {
            per_second,
            window: Mutex::new((Instant::now(), Duration::ZERO)),
        }
    }

    /// Charge `used` guest time; returns how long the caller must pause
    /// before running more (zero when within budget).
    pub fn charge(&self, used: Duration) -> Duration {
        let mut w = self.window.lock().unwrap();
        let now = Instant::now();
        if now.duration_since(w.0) >= Duration::from_secs(1) {
            *w = (now, Duration::ZERO);
        }
        w.1 += used;
        if w.1 > self.per_second {
            Duration::from_secs(1).saturating_sub(now.duration_since(w.0))
        } else {
            Duration::ZERO
        }
    }

    pub fn limit(&self) -> Duration {
        self.per_second
    }
}
