//! Provider simulators: in-process fake provider APIs that adapters call
//! over real loopback HTTP, used by the host's tests, the demo and the
//! conformance kit. Each simulator lives in its own module; `sim` is the
//! reference "sim" provider and is re-exported at the crate root.

pub mod sim;

pub use sim::*;
