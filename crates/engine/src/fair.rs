//! Fair sharing of background work (timers, polls, callback deliveries)
//! between tenants.
//!
//! Threat: one tenant's slow callback receivers or silent long-polled
//! provider keep its work in flight for minutes, and its backlog is the
//! oldest; read oldest-first with one `LIMIT`, that work fills every scan
//! and no other tenant's timer, poll or callback ever starts (measured: a
//! neighbour's callback went from 0.03 s to not arriving in 45 s).
//!
//! Rule: each tenant has at most its `background_in_flight` quota of each
//! kind of work in flight; a tenant at its cap is left out of the next
//! scan, every other tenant's earliest items are read (the store's
//! [`Share`]), and what is started is interleaved round-robin between
//! tenants. Work in flight never holds a place in the scan beyond its own
//! tenant's share. Must never: start an item twice at once, let an item
//! leave "in flight" before its outcome is committed and a new scan began
//! (a scan that started earlier may still list it as due), or keep a claim
//! (PostgreSQL's lease) on an item nobody will run: a scan can win a claim
//! on an item still in flight here once that item's step committed (the
//! commit drops its lease; a long poll is due again at once), and a claim
//! kept for it would strand the item until the 30 s lease expired.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use handover_core::store::Share;

/// Work of one kind in flight, by item and by tenant.
pub(crate) struct InFlight<K> {
    state: Mutex<State<K>>,
}

struct State<K> {
    items: HashSet<K>,
    per_tenant: HashMap<String, usize>,
    /// Finished items, released at the start of the next scan.
    finished: Vec<(K, String)>,
    /// Running items a later scan claimed again: their claim is given
    /// back once they finish.
    held: HashSet<K>,
}

/// What [`InFlight::before_scan`] tells the next scan.
pub(crate) struct BeforeScan<K> {
    /// Tenants at their cap, which the scan skips.
    pub skip: Vec<String>,
    /// Claims to give back before the scan (held while their item ran).
    pub give_back: Vec<K>,
}

impl<K: Eq + Hash + Clone + Send + 'static> InFlight<K> {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(InFlight {
            state: Mutex::new(State {
                items: HashSet::new(),
                per_tenant: HashMap::new(),
                finished: Vec::new(),
                held: HashSet::new(),
            }),
        })
    }

    /// Before a scan: release what finished since the last one (and name
    /// the claims held for it, to give back), and name the tenants at their
    /// cap (`cap(tenant)`), which the scan skips.
    pub(crate) fn before_scan(&self, cap: impl Fn(&str) -> usize) -> BeforeScan<K> {
        let mut s = self.state.lock().unwrap();
        let mut give_back = vec![];
        for (item, tenant) in std::mem::take(&mut s.finished) {
            s.items.remove(&item);
            if s.held.remove(&item) {
                give_back.push(item);
            }
            if let Some(n) = s.per_tenant.get_mut(&tenant) {
                *n -= 1;
                if *n == 0 {
                    s.per_tenant.remove(&tenant);
                }
            }
        }
        let skip = s
            .per_tenant
            .iter()
            .filter(|&(t, &n)| n >= cap(t))
            .map(|(t, _)| t.clone())
            .collect();
        BeforeScan { skip, give_back }
    }

    /// Start `item`, claimed by a scan, as [`InFlight::try_start`] does,
    /// unless `draining`. The claim of one not started goes to `unclaimed`,
    /// for the caller to give back, unless the item is still running here:
    /// then the claim is kept while it runs (a run longer than the lease
    /// must not be started by another replica too) and given back by the
    /// first scan after it finished ([`BeforeScan::give_back`]): its step
    /// committed, and the item may be due again.
    pub(crate) fn start_or_unclaim(
        self: &Arc<Self>,
        item: K,
        tenant: &str,
        cap: usize,
        draining: bool,
        unclaimed: &mut Vec<K>,
    ) -> Option<Started<K>> {
        let started = match draining {
            true => None,
            false => self.try_start(item.clone(), tenant, cap),
        };
        if started.is_none() {
            let mut s = self.state.lock().unwrap();
            let finished = s.finished.iter().any(|(f, _)| *f == item);
            if s.items.contains(&item) && !finished {
                s.held.insert(item);
            } else {
                unclaimed.push(item);
            }
        }
        started
    }

    /// Start `item` of `tenant` unless it is in flight already or the
    /// tenant is at `cap`; the returned guard marks it finished when
    /// dropped.
    pub(crate) fn try_start(
        self: &Arc<Self>,
        item: K,
        tenant: &str,
        cap: usize,
    ) -> Option<Started<K>> {
        let mut s = self.state.lock().unwrap();
        let n = s.per_tenant.get(tenant).copied().unwrap_or(0);
        if n >= cap || !s.items.insert(item.clone()) {
            return None;
        }
        s.per_tenant.insert(tenant.to_string(), n + 1);
        Some(Started {
            flight: self.clone(),
            item: Some((item, tenant.to_string())),
        })
    }
}

/// One started item; finished when dropped.
pub(crate) struct Started<K: Eq + Hash + Clone + Send + 'static> {
    flight: Arc<InFlight<K>>,
    item: Option<(K, String)>,
}

impl<K: Eq + Hash + Clone + Send + 'static> Drop for Started<K> {
    fn drop(&mut self) {
        if let Some(done) = self.item.take() {
            self.flight.state.lock().unwrap().finished.push(done);
        }
    }
}

/// The scan's [`Share`]: each tenant's share of one scan is twice its cap,
/// so a tenant with up to `cap` items in flight (listed again while due)
/// still has fresh items in its share.
pub(crate) fn share(cap: usize, skip: &[String]) -> Share<'_> {
    Share {
        per_tenant: u32::try_from(cap.saturating_mul(2)).unwrap_or(u32::MAX),
        skip,
    }
}

/// `items` (earliest first) reordered round-robin between tenants: every
/// tenant's first item, then every tenant's second, … Tenants take turns
/// in the order of their earliest item.
pub(crate) fn round_robin<T>(items: Vec<T>, tenant: impl Fn(&T) -> &str) -> Vec<T> {
    let mut order: Vec<String> = Vec::new();
    let mut queues: HashMap<String, VecDeque<T>> = HashMap::new();
    for item in items {
        let t = tenant(&item).to_string();
        if !queues.contains_key(&t) {
            order.push(t.clone());
        }
        queues.entry(t).or_default().push_back(item);
    }
    let mut out = Vec::new();
    loop {
        let before = out.len();
        for t in &order {
            if let Some(item) = queues.get_mut(t).and_then(VecDeque::pop_front) {
                out.push(item);
            }
        }
        if out.len() == before {
            return out;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_robin_interleaves_tenants_in_order_of_their_earliest_item() {
        let items = vec![("a", 1), ("a", 2), ("a", 3), ("b", 4), ("c", 5), ("b", 6)];
        let got: Vec<i32> = round_robin(items, |i| i.0)
            .into_iter()
            .map(|i| i.1)
            .collect();
        assert_eq!(got, [1, 4, 5, 2, 6, 3]);
    }

    #[test]
    fn a_tenant_at_its_cap_is_skipped_until_its_work_is_released() {
        let flight = InFlight::<i64>::new();
        let cap = |t: &str| if t == "a" { 2 } else { 5 };
        let a1 = flight.try_start(1, "a", cap("a")).unwrap();
        let _a2 = flight.try_start(2, "a", cap("a")).unwrap();
        assert!(flight.try_start(3, "a", cap("a")).is_none(), "over a's cap");
        assert!(
            flight.try_start(1, "b", cap("b")).is_none(),
            "already in flight"
        );
        let _b = flight.try_start(4, "b", cap("b")).unwrap();
        assert_eq!(flight.before_scan(cap).skip, ["a"]);
        drop(a1);
        // Finished, but still in flight until the next scan begins.
        assert!(flight.try_start(1, "a", cap("a")).is_none());
        assert!(flight.before_scan(cap).skip.is_empty());
        assert!(flight.try_start(1, "a", cap("a")).is_some());
    }

    #[test]
    fn claims_not_started_are_given_back_now_or_once_their_item_finished() {
        let flight = InFlight::<i64>::new();
        let cap = |_: &str| 5;
        let mut unclaimed = vec![];
        let a1 = flight
            .start_or_unclaim(1, "a", 1, false, &mut unclaimed)
            .unwrap();
        // Over a's cap: given back. Running: held (no second run).
        assert!(
            flight
                .start_or_unclaim(2, "a", 1, false, &mut unclaimed)
                .is_none()
        );
        assert!(
            flight
                .start_or_unclaim(1, "b", 5, false, &mut unclaimed)
                .is_none()
        );
        // Draining: nothing starts, every claim not held goes back.
        assert!(
            flight
                .start_or_unclaim(3, "b", 5, true, &mut unclaimed)
                .is_none()
        );
        assert_eq!(unclaimed, [2, 3]);
        // The held claim goes back with the first scan after item 1 ended.
        assert!(flight.before_scan(cap).give_back.is_empty());
        drop(a1);
        assert_eq!(flight.before_scan(cap).give_back, [1]);
        assert!(flight.before_scan(cap).give_back.is_empty());
    }

    #[test]
    fn a_claim_won_after_its_item_finished_is_given_back_at_once() {
        // The item's step committed (its lease dropped) and its guard was
        // dropped after this scan's `before_scan`: a claim on it is fresh
        // and must not be kept (the item would wait out the lease).
        let flight = InFlight::<i64>::new();
        let cap = |_: &str| 5;
        let a = flight.try_start(7, "a", 5).unwrap();
        let scan = flight.before_scan(cap);
        assert!(scan.give_back.is_empty());
        drop(a);
        let mut unclaimed = vec![];
        assert!(
            flight
                .start_or_unclaim(7, "a", 5, false, &mut unclaimed)
                .is_none()
        );
        assert_eq!(unclaimed, [7]);
        assert!(flight.before_scan(cap).give_back.is_empty());
        // Released by that scan: the next claim starts it.
        assert!(
            flight
                .start_or_unclaim(7, "a", 5, false, &mut unclaimed)
                .is_some()
        );
    }
}
