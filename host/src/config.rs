//! The configuration as the host sees it: everything in
//! `handover_core::config` (schema, `parse`, errors, secret templates) plus
//! `load`, which reads the file — the I/O core must not do.
//!
//! Must never parse or validate itself: reading bytes is its whole job;
//! every rule about their content stays in core.

pub use handover_core::config::*;

use std::path::Path;

/// Read and parse a config file.
pub fn load(path: &Path) -> Result<LoadedConfig, ConfigErrors> {
    let file = path.display().to_string();
    let source = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::whole_file(&file, format!("cannot read: {e}")))?;
    let config = parse(&file, &source)?;
    Ok(LoadedConfig {
        config,
        path: path.to_path_buf(),
        source,
    })
}
