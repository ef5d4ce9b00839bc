//! End-to-end tests: the real binary over real HTTP, one test per path of
//! the handover lifecycle, and the provider adapters against their
//! simulators (`providers_*`; Matrix against a real Synapse). See `harness`
//! for how the host is run.

mod delivery;
pub(crate) mod harness;
mod input_retry;
mod lifecycle;
mod memory_slots;
mod postgres;
mod providers_chatwoot_sunshine;
mod providers_chatwoot_v2;
mod providers_genesys_liveperson;
mod providers_matrix;
mod providers_salesforce;
mod providers_salesforce_miaw_v2;
mod providers_sunshine_v2;
mod recovery;
pub(crate) mod support;
mod timers;
pub(crate) mod webhooks;
