//! The host's guest-memory layout against the process's address-space
//! limit: 4 GiB slots without bounds checks where the process may reserve
//! them, bounds-checked slots (said in the log) where it may not, and the
//! sandbox serving either way.

use crate::e2e::harness::*;
use crate::e2e::support::*;

/// What the host logs when it falls back to bounds-checked memory slots.
const CHECKED: &str = "compiled adapters check bounds on every memory access";

/// Serves a handover on the sim through the sandbox: `start` when created,
/// an agent join, then an agent message by webhook (route and handle) seen
/// on the handover's events.
async fn serves_a_handover(host: &Host, sim: &provider_simulators::SimProvider) {
    let (id, conv) = host.active_sim_handover(sim, "s-1").await;
    let (code, body) = send_agent_message(host, "m-1", &conv, 3, "hello").await;
    assert_eq!(code, 200, "{body}");
    let events = until_agent_text(host, &id, None, "hello").await;
    assert_eq!(agent_texts(&events), ["hello"], "{events:?}");
}

/// Under an address-space limit of 4 TiB (`prlimit --as`), the default
/// 2,000 guest memories of 4 GiB (8 TiB) cannot be reserved: the host
/// starts with bounds-checked slots (2 TiB), says so, and serves.
#[tokio::test]
async fn a_host_limited_in_address_space_checks_bounds_and_serves() {
    let sim = sim().await;
    let as_limit = format!("--as={}", 4u64 << 40);
    let host =
        Host::start_under(Host::config(&[sim_ep("ep", &sim)]), &["prlimit", &as_limit]).await;
    sim.set_webhook_url(Some(host.webhook_url("ep")));
    assert!(host.log().contains(CHECKED), "{}", host.log());
    serves_a_handover(&host, &sim).await;
}

/// Without a limit, the same host reserves the 4 GiB slots: no warning.
#[tokio::test]
async fn a_host_with_the_address_space_runs_guests_without_bounds_checks() {
    let sim = sim().await;
    let host = Host::start_sim(sim_ep("ep", &sim), &sim).await;
    serves_a_handover(&host, &sim).await;
    assert!(!host.log().contains(CHECKED), "{}", host.log());
}
