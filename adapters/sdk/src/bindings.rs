//! The one place that generates bindings for the `handover-adapter` world:
//! `wit/v0.1.0`, or `wit/v0.2.0` with the `contract-0-2` feature (a
//! component targets exactly one contract version). WASI types are mapped
//! onto the `wasip2` crate so that the world's `wasi:http` import is the
//! same one `wstd` uses.

#[cfg(not(feature = "contract-0-2"))]
wit_bindgen::generate!({
    path: "../../wit/v0.1.0",
    world: "handover-adapter",
    pub_export_macro: true,
    export_macro_name: "export",
    default_bindings_module: "handover_adapter_sdk::bindings",
    runtime_path: "handover_adapter_sdk::__rt",
    with: {
        "wasi:http/outgoing-handler@0.2.12": wasip2::http::outgoing_handler,
        "wasi:http/types@0.2.12": wasip2::http::types,
        "wasi:io/error@0.2.12": wasip2::io::error,
        "wasi:io/poll@0.2.12": wasip2::io::poll,
        "wasi:io/streams@0.2.12": wasip2::io::streams,
        "wasi:clocks/monotonic-clock@0.2.12": wasip2::clocks::monotonic_clock,
    },
});

#[cfg(feature = "contract-0-2")]
wit_bindgen::generate!({
    path: "../../wit/v0.2.0",
    world: "handover-adapter",
    pub_export_macro: true,
    export_macro_name: "export",
    default_bindings_module: "handover_adapter_sdk::bindings",
    runtime_path: "handover_adapter_sdk::__rt",
    with: {
        "wasi:http/outgoing-handler@0.2.12": wasip2::http::outgoing_handler,
        "wasi:http/types@0.2.12": wasip2::http::types,
        "wasi:io/error@0.2.12": wasip2::io::error,
        "wasi:io/poll@0.2.12": wasip2::io::poll,
        "wasi:io/streams@0.2.12": wasip2::io::streams,
        "wasi:clocks/monotonic-clock@0.2.12": wasip2::clocks::monotonic_clock,
    },
});
