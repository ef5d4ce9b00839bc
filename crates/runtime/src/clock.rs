//! The time limits of one call: a wall deadline (`wall_time` plus any
//! granted I/O wait, `Limits::io_wait`) and an execution budget
//! (`wall_time` of guest code), read by the epoch callback.
//!
//! How execution is measured: the engine's epoch advances once per tick on
//! the ticker thread; wasmtime compares it with the store's epoch deadline
//! only in guest code (function entries, loop back-edges), and the callback
//! re-arms that deadline one tick ahead each time it runs. So the callback
//! runs once per tick in which the guest executed, and not at all while the
//! guest is blocked in a host future (an outgoing request, a pollable, a
//! clock wait): after a wait it runs once, at the guest's first check. Each
//! run charges one tick, so guest execution is counted and I/O waits are
//! not (a wait costs at most the one tick in which it ends). A guest cannot
//! hide execution by waiting between spins: every tick that passes is
//! charged at the guest's next check, whether it ran or waited through it.
//!
//! A call on a fresh instance starts with its instantiation, under
//! [`CallClock::instantiating`]: the host's own work (memory images, table
//! setup) is bounded by [`INSTANTIATE_WALL`] instead of the call's wall
//! time, so a large component (CPython, SpiderMonkey) on a slow or loaded
//! host is not refused for time the guest did not spend. The guest code
//! that runs meanwhile (start functions) is charged to the execution
//! budget as always. [`CallClock::begin_run`] then starts the wall time of
//! the guest's own run.
//!
//! Must never: charge a call for time it spent blocked on host I/O beyond
//! that one tick, nor let it run past its wall deadline or execute past its
//! budget.

use super::Limits;
use std::time::{Duration, Instant};

/// Which limit stopped a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The call's wall deadline (`wall_time` + `io_wait`) passed.
    Wall,
    /// The guest's own code ran for longer than `wall_time`.
    Execution,
}

/// One call's deadline and execution count.
#[derive(Debug, Clone)]
pub struct CallClock {
    pub started: Instant,
    /// When the call's wall time (execution plus granted I/O wait) runs out.
    pub deadline: Instant,
    /// The most guest code may execute in this call.
    pub exec_limit: Duration,
    /// Guest execution so far, in ticks charged by the epoch callback.
    pub executed: Duration,
    /// Set when the epoch callback interrupted the call.
    pub stopped: Option<Stop>,
}

/// The most the host's work of instantiating one component may take: far
/// above any real instantiation (a 19 MB CPython component takes well
/// under a second on a release host), so it only stops a runaway.
pub const INSTANTIATE_WALL: Duration = Duration::from_secs(60);

impl CallClock {
    /// The clock of a call's instantiation, started at `started`: its wall
    /// deadline is [`INSTANTIATE_WALL`] away, its execution budget the
    /// call's.
    pub fn instantiating(started: Instant, limits: &Limits) -> CallClock {
        CallClock {
            deadline: started + INSTANTIATE_WALL,
            ..CallClock::new(started, limits)
        }
    }

    /// The instance is ready at `now`: the call's wall time starts here;
    /// what the guest executed so far stays charged.
    pub fn begin_run(&mut self, now: Instant, limits: &Limits) {
        self.started = now;
        self.deadline = now + limits.wall_time + limits.io_wait;
    }

    pub fn new(started: Instant, limits: &Limits) -> CallClock {
        CallClock {
            started,
            deadline: started + limits.wall_time + limits.io_wait,
            exec_limit: limits.wall_time,
            executed: Duration::ZERO,
            stopped: None,
        }
    }

    /// The epoch callback ran at `now`: the guest executed in this tick.
    /// Returns the limit that stops the call, if one does.
    pub fn tick(&mut self, now: Instant, tick: Duration) -> Option<Stop> {
        if now >= self.deadline {
            self.stopped = Some(Stop::Wall);
        } else {
            self.executed += tick;
            if self.executed > self.exec_limit {
                self.stopped = Some(Stop::Execution);
            }
        }
        self.stopped
    }

    /// The failure message for a call the epoch callback interrupted.
    pub fn interrupted(&self, limits: &Limits) -> (&'static str, String) {
        match self.stopped {
            Some(Stop::Execution) => (
                "execution",
                format!(
                    "execution-time limit exceeded: the adapter's code ran for {:?} (waits \
                     on I/O not counted); the per-call limit is {:?} (`wall_time_ms`)",
                    self.executed, limits.wall_time
                ),
            ),
            _ => ("deadline", self.wall_exceeded(limits, "")),
        }
    }

    /// The failure message for a call whose wall deadline passed.
    pub fn wall_exceeded(&self, limits: &Limits, detail: &str) -> String {
        let io = if limits.io_wait.is_zero() {
            String::new()
        } else {
            format!(
                " ({:?} of execution plus {:?} of long-poll wait)",
                limits.wall_time, limits.io_wait
            )
        };
        format!(
            "wall-time limit exceeded: the adapter ran for {:?}{detail}; the limit is {:?}{io}",
            self.started.elapsed(),
            limits.wall_time + limits.io_wait,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TICK: Duration = Duration::from_millis(5);

    fn limits(wall_ms: u64, io_wait_ms: u64) -> Limits {
        Limits {
            wall_time: Duration::from_millis(wall_ms),
            io_wait: Duration::from_millis(io_wait_ms),
            ..Limits::default()
        }
    }

    #[test]
    fn execution_is_stopped_at_its_budget_even_with_a_long_io_allowance() {
        let t0 = Instant::now();
        let l = limits(100, 3_600_000);
        let mut c = CallClock::new(t0, &l);
        // 20 ticks of spinning are within 100 ms, the 21st is over it.
        for i in 1..=20 {
            assert_eq!(c.tick(t0 + TICK * i, TICK), None, "tick {i}");
        }
        assert_eq!(c.tick(t0 + TICK * 21, TICK), Some(Stop::Execution));
        let (cause, msg) = c.interrupted(&l);
        assert_eq!(cause, "execution");
        assert!(msg.contains("execution-time limit exceeded"), "{msg}");
        assert!(msg.contains("100ms"), "{msg}");
    }

    #[test]
    fn waits_on_io_cost_one_tick_and_the_wall_deadline_still_holds() {
        let t0 = Instant::now();
        let l = limits(100, 10_000);
        let mut c = CallClock::new(t0, &l);
        assert_eq!(c.tick(t0 + TICK, TICK), None);
        // The guest was blocked on a request for 9 s: one tick on return.
        assert_eq!(c.tick(t0 + Duration::from_secs(9), TICK), None);
        assert_eq!(c.executed, TICK * 2);
        // Past execution + wait: the wall deadline stops it.
        let end = t0 + Duration::from_millis(10_100);
        assert_eq!(c.tick(end, TICK), Some(Stop::Wall));
        let (cause, msg) = c.interrupted(&l);
        assert_eq!(cause, "deadline");
        assert!(msg.contains("wall-time limit exceeded"), "{msg}");
        assert!(msg.contains("long-poll wait"), "{msg}");
    }

    #[test]
    fn instantiation_is_not_charged_to_the_wall_time_but_its_guest_code_is() {
        let t0 = Instant::now();
        let l = limits(100, 0);
        let mut c = CallClock::instantiating(t0, &l);
        assert_eq!(c.deadline, t0 + INSTANTIATE_WALL);
        // Two ticks of start-function code, then 3 s of host work: no stop.
        assert_eq!(c.tick(t0 + TICK, TICK), None);
        assert_eq!(c.tick(t0 + TICK * 2, TICK), None);
        let ready = t0 + Duration::from_secs(3);
        c.begin_run(ready, &l);
        assert_eq!(
            (c.started, c.deadline),
            (ready, ready + Duration::from_millis(100))
        );
        assert_eq!(c.executed, TICK * 2, "the start functions stay charged");
        // The run's own 100 ms: 18 more ticks fit (20 in all), the next is over.
        for i in 1..=18 {
            assert_eq!(c.tick(ready + TICK * i, TICK), None, "tick {i}");
        }
        assert_eq!(c.tick(ready + TICK * 19, TICK), Some(Stop::Execution));
        // And the run's wall deadline counts from `ready`, not `t0`.
        let mut c = CallClock::instantiating(t0, &l);
        c.begin_run(ready, &l);
        assert_eq!(
            c.tick(ready + Duration::from_millis(101), TICK),
            Some(Stop::Wall)
        );
    }

    #[test]
    fn without_an_io_allowance_the_wall_deadline_is_the_budget() {
        let t0 = Instant::now();
        let l = limits(300, 0);
        let c = CallClock::new(t0, &l);
        assert_eq!(c.deadline, t0 + Duration::from_millis(300));
        assert_eq!(c.exec_limit, Duration::from_millis(300));
        let msg = c.wall_exceeded(&l, "");
        assert!(msg.contains("the limit is 300ms") && !msg.contains("long-poll"));
    }
}
