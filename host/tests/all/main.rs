//! The host's integration tests, in one test binary (one link of wasmtime
//! and of the host instead of one per file). Each module says what it
//! covers; `harness` is what they share: the built guest components, the
//! real `handover-host` binary as a child process (`HostProcess`) with a
//! typed config (`Config`), HTTP, SSE and webhook helpers.

mod cache;
mod cli;
mod conformance;
mod e2e;
mod egress;
mod harness;
mod hot_swap;
mod openapi;
mod replicas;
mod sandbox;
mod session;
mod template;
mod tenancy;

/// Every guest component the adapters workspace builds has a test here:
/// `for_each_guest!` (generated from the workspace's members by
/// `tests/guests/build.rs`) names each one, and a guest missing from this
/// list fails to compile (`unresolved import`). Each entry is one test that
/// loads that guest.
mod guests_tested {
    use crate::cache::a_cache_hit_is_faster_than_compiling as sim;
    use crate::cache::a_valid_entry_copied_under_another_key_is_refused as panic;
    use crate::cache::the_second_load_is_served_from_the_cache as echo;
    use crate::cache::the_second_load_is_served_from_the_cache as echo_v2;
    use crate::conformance::provider_adapters_pass_against_their_simulators as chatwoot;
    use crate::conformance::provider_adapters_pass_against_their_simulators as genesys_open_messaging;
    use crate::conformance::provider_adapters_pass_against_their_simulators as liveperson;
    use crate::conformance::provider_adapters_pass_against_their_simulators as matrix;
    use crate::conformance::provider_adapters_pass_against_their_simulators as salesforce_live_agent;
    use crate::conformance::provider_adapters_pass_against_their_simulators as salesforce_miaw;
    use crate::conformance::provider_adapters_pass_against_their_simulators as sunshine_conversations;
    use crate::conformance::sim_adapters_pass_every_scenario as sim_poll;
    use crate::hot_swap::calls_in_flight_finish_on_the_old_version as egress;
    use crate::hot_swap::instance_reuse_keeps_instances_warm_until_a_swap as counter;
    use crate::sandbox::file_and_environment_are_not_visible as fs_env;
    use crate::sandbox::infinite_loop_hits_the_wall_time_limit as r#loop;
    use crate::sandbox::log_flood_is_truncated_and_counted as log_flood;
    use crate::sandbox::memory_bomb_hits_the_memory_limit as membomb;
    use crate::sandbox::oversized_event_list_is_refused as many_events;
    use crate::sandbox::oversized_state_is_refused as big_state;
    use crate::sandbox::unbounded_recursion_is_a_stack_overflow as recursion;
    use crate::template::template_with_provider_logic_passes_the_happy_path as template;

    macro_rules! assert_guest_tested {
        ($guest:ident) => {
            #[allow(unused_imports)]
            use self::$guest as _;
        };
    }
    handover_guests::for_each_guest!(assert_guest_tested);
}
