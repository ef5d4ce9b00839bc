//! The per-version export table: a component's adapter exports found and
//! type-checked once, at load, instead of once per instance.
//!
//! The generated `HandoverAdapterPre::instantiate_async` looks up and
//! type-checks every export on every instantiation (~2.4 µs of a webhook's
//! CPU in the server's profile, for one or two calls). A component's export
//! types are fixed when it is compiled and linked, so `Exports::new` checks
//! them once, at load, against exactly the Rust types the calls use; per
//! call only the export is fetched by its precomputed index.
//!
//! Each contract version's module invokes [`typed_exports!`] with its own
//! interface name and generated types.
//!
//! Must never: hand out a typed function for an instance of another
//! component than the one checked (the `InstancePre` and its `Exports` are
//! kept together in `LoadedAdapter`), or name a signature in a call that
//! differs from the one checked (both come from one macro line).

/// Defines `Exports` for one contract version: `interface = "…";` then one
/// line per export, `field = "export-name": (params) -> result;`. The
/// invoking module must import `ComponentItem`, `ComponentExportIndex`,
/// `Instance`, `InstancePre`, `TypedFunc`, `Context`, `AsContextMut`,
/// `Result` and `format_err` (see `v0_1_0_exports`).
macro_rules! typed_exports {
    (interface = $iface:literal; $($field:ident = $name:literal : ($($param:ty),*) -> $result:ty;)*) => {
        /// The interface every adapter of this version exports.
        const INTERFACE: &str = $iface;

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

pub(crate) use typed_exports;
