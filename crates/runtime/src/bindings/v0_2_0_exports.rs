//! `handover:provider@0.2.0`'s exports, found and type-checked once per
//! component (see [`super::exports`]).

use super::exports::typed_exports;
use super::v0_2_0::t;
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{ComponentExportIndex, Instance, InstancePre, TypedFunc};
use wasmtime::error::Context;
use wasmtime::{AsContextMut, Result, format_err};

/// A call's own result: the adapter's value or its failure.
type Res<T> = std::result::Result<T, t::Failure>;

typed_exports! {
    interface = "handover:provider/adapter@0.2.0";
    describe = "describe": () -> t::AdapterInfo;
    validate_settings = "validate-settings": (&'p str) -> Res<()>;
    start = "start": (&'p t::CallContext, &'p t::Conversation) -> Res<t::Step>;
    user_message = "user-message":
        (&'p t::CallContext, &'p [u8], &'p t::UserInput) -> Res<t::Step>;
    user_typing = "user-typing": (&'p t::CallContext, &'p [u8], bool) -> Res<t::Step>;
    cancel = "cancel": (&'p t::CallContext, &'p [u8]) -> Res<t::Step>;
    close = "close": (&'p t::CallContext, &'p [u8]) -> Res<t::Step>;
    check_availability = "check-availability":
        (&'p t::CallContext, &'p [u8]) -> Res<t::Availability>;
    route_webhook = "route-webhook":
        (&'p str, &'p t::HttpRequest) -> Res<t::WebhookRoute>;
    handle_webhook = "handle-webhook":
        (&'p t::CallContext, &'p [u8], &'p t::HttpRequest) -> Res<t::Step>;
    poll = "poll": (&'p t::CallContext, &'p [u8]) -> Res<t::Step>;
}
