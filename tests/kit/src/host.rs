//! The in-process host the kit's commands run an adapter in: its config,
//! generated from the simulator's endpoint setup. Must never bind anything
//! but loopback.

use handover_host::config::{self, LoadedConfig};
use provider_simulators::driver;
use std::path::Path;

/// What a kit host is made of (see [`host_config`]).
pub struct HostSpec<'a> {
    pub adapter: &'a Path,
    pub endpoint: &'a str,
    pub data_dir: &'a Path,
    pub cache_dir: &'a Path,
    /// Lines of the endpoint's `[endpoints.timers]` table.
    pub timers: &'a str,
    /// Whether the host swaps in a new build of the adapter file.
    pub watch: bool,
    /// The endpoint's `instance_reuse` (calls per kept instance; `None`:
    /// a fresh instance per call, the default).
    pub instance_reuse: Option<u32>,
}

/// The config of a host on `127.0.0.1:<free port>` with one endpoint
/// bound to `spec.adapter` and configured as the simulator's `setup` says.
pub fn host_config(
    spec: &HostSpec<'_>,
    setup: &driver::EndpointSetup,
    path: &Path,
) -> Result<LoadedConfig, String> {
    let q = |s: &str| serde_json::to_string(s).unwrap();
    let settings: toml::Value =
        serde_json::from_value(setup.settings.clone()).map_err(|e| e.to_string())?;
    let mut src = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = {}\nwatch_adapters = {}\n\n[runtime]\nmax_instances = 64\ncache_dir = {}\n\n[[endpoints]]\nid = {}\nadapter = {}\negress = [{}]\nsettings = {settings}\n",
        q(&spec.data_dir.display().to_string()),
        spec.watch,
        q(&spec.cache_dir.display().to_string()),
        q(spec.endpoint),
        q(&spec.adapter.display().to_string()),
        setup
            .egress
            .iter()
            .map(|e| q(e))
            .collect::<Vec<_>>()
            .join(", "),
    );
    if let Some(n) = spec.instance_reuse {
        src += &format!("instance_reuse = {n}\n");
    }
    if let Some(s) = &setup.webhook_secret {
        src += &format!("webhook_secret = {}\n", q(s));
    }
    src += &setup.extra_toml;
    src += &format!("\n[endpoints.timers]\n{}\n", spec.timers);
    let cfg = config::parse("conformance.toml", &src)
        .map_err(|e| format!("generated config is invalid: {e}"))?;
    Ok(LoadedConfig {
        config: cfg,
        path: path.to_path_buf(),
        source: src,
    })
}
