//! `handover:provider@0.1.0`'s exports, found and type-checked once per
//! component instead of once per instance.
//!
//! The generated `HandoverAdapterPre::instantiate_async` looks up and
//! type-checks all ten exports on every instantiation (~2.4 µs of a
//! webhook's CPU in the server's profile, for one or two calls). A
//! component's export types are fixed when it is compiled and linked, so
//! [`Exports::new`] checks them once, at load, against exactly the Rust
//! types the calls use; per call only the export is fetched by its
//! precomputed index.
//!
//! Must never: hand out a typed function for an instance of another
//! component than the one checked (the `InstancePre` and its `Exports` are
//! kept together in `LoadedAdapter`), or name a signature in a call that
//! differs from the one checked (both come from one macro line below).

use super::v0_1_0::t;
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{ComponentExportIndex, Instance, InstancePre, TypedFunc};
use wasmtime::error::Context;
use wasmtime::{AsContextMut, Result, format_err};

/// A call's own result: the adapter's value or its failure.
type Res<T> = std::result::Result<T, t::Failure>;

/// The interface every 0.1.0 adapter exports.
const INTERFACE: &str = "handover:provider/adapter@0.1.0";

macro_rules! exports {
    ($($field:ident = $name:literal : ($($param:ty),*) -> $result:ty;)*) => {
        /// Each export's index in the component; its type was checked by
        /// [`Exports::new`].
        pub struct Exports {
            $($field: ComponentExportIndex,)*
        }

        impl Exports {
            /// Find the exports and check each one's type against the
            /// signature its calls use. Fails (as a world mismatch) if
            /// either is wrong.
            pub fn new<T>(pre: &InstancePre<T>) -> Result<Exports> {
                // `'p` names the borrowed parameters' lifetime (unused by
                // exports without any).
                #[allow(clippy::extra_unused_lifetimes)]
                fn check<'p, T>(pre: &InstancePre<T>, iface: &ComponentExportIndex) -> Result<Exports> {
                    let component = pre.component();
                    let ty = pre.instance_type();
                    Ok(Exports {$($field: {
                        let (item, index) = component
                            .get_export(Some(iface), $name)
                            .ok_or_else(|| format_err!("`{INTERFACE}` has no export `{}`", $name))?;
                        match item {
                            ComponentItem::ComponentFunc(f) => f
                                .typecheck::<($($param,)*), ($result,)>(&ty)
                                .with_context(|| format!("type-checking export `{}`", $name))?,
                            _ => return Err(format_err!("export `{}` is not a function", $name)),
                        }
                        index
                    },)*})
                }
                let iface = pre
                    .component()
                    .get_export_index(None, INTERFACE)
                    .ok_or_else(|| format_err!("no exported instance `{INTERFACE}`"))?;
                check(pre, &iface)
            }

            $(
                #[doc = concat!("`", $name, "` of `instance`.")]
                #[allow(clippy::extra_unused_lifetimes)]
                pub fn $field<'p>(
                    &self,
                    mut store: impl AsContextMut,
                    instance: &Instance,
                ) -> TypedFunc<($($param,)*), ($result,)> {
                    let func = instance
                        .get_func(store.as_context_mut(), &self.$field)
                        .expect("the export was found in this component at load");
                    // SAFETY: `instance` comes from the `InstancePre` these
                    // indices and types were checked against in `new` (they
                    // are kept together in `LoadedAdapter`, and `run_call`
                    // drops a kept instance rather than call another
                    // adapter's exports on it), export types do not vary
                    // between instances of one component, and the signature
                    // here is the one checked (same macro line).
                    unsafe { TypedFunc::new_unchecked(func) }
                }
            )*
        }
    };
}

exports! {
    describe = "describe": () -> t::AdapterInfo;
    validate_settings = "validate-settings": (&'p str) -> Res<()>;
    start = "start": (&'p t::CallContext, &'p t::Conversation) -> Res<t::Step>;
    user_message = "user-message":
        (&'p t::CallContext, &'p [u8], &'p t::UserInput) -> Res<t::Step>;
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
