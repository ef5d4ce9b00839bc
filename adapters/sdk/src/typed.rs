//! The typed layer: [`TypedAdapter`] declares its `Settings` and `State`
//! types and receives them parsed, checked and loaded; the SDK turns it into
//! the raw [`Adapter`] (settings text and state bytes) and saves the state
//! into the returned [`Step`]. It never performs I/O of its own and never
//! changes what an adapter reports: events, keys and failures pass through
//! as the adapter returns them.

use crate::adapter::Adapter;
use crate::failure::unsupported;
use crate::settings::EndpointSettings;
use crate::state::{self, HandoverState};
use crate::types::{
    AdapterInfo, Availability, CallContext, Conversation, Event, Failure, HttpRequest, Step,
    UserInput, WebhookRoute,
};
use std::any::Any;
use std::cell::RefCell;

/// What a call that concerns a handover needs besides its state: the
/// endpoint's settings (parsed and checked) and the handover id.
pub struct Cx<S> {
    /// The endpoint's settings, already parsed and checked.
    pub settings: S,
    /// The handover this call concerns.
    pub handover_id: String,
}

/// What a typed call that concerns a handover returns.
pub type Reply = Result<Output, Failure>;

/// What a typed call reports: events and new correlation keys. The state
/// is whatever the call left in its `&mut State`.
#[derive(Default)]
pub struct Output {
    pub events: Vec<Event>,
    pub correlation_keys: Vec<String>,
}

impl Output {
    /// Nothing to report.
    pub fn none() -> Self {
        Self::default()
    }

    /// Adds a correlation key under which webhooks find this handover.
    pub fn with_key(mut self, key: impl Into<String>) -> Self {
        self.correlation_keys.push(key.into());
        self
    }
}

impl From<Vec<Event>> for Output {
    fn from(events: Vec<Event>) -> Self {
        Output {
            events,
            correlation_keys: Vec::new(),
        }
    }
}

/// One provider adapter, typed: implement this (instead of [`Adapter`]) and
/// export it with [`export!`](crate::export). Every call gets the
/// settings parsed into [`Self::Settings`](TypedAdapter::Settings)
/// (failures name the field) and, for a call that concerns a handover, the
/// loaded and checked [`Self::State`](TypedAdapter::State) (`start` gets
/// `State::default()`). Settings are parsed once per instance while their
/// text stays the same, so parsing must depend on the text alone and a
/// call must not change them (e.g. through a `Cell`).
/// After the call the state is saved into the [`Step`]; when the call left
/// it as loaded, the host's bytes are returned unchanged.
///
/// Optional calls default to the same `unsupported` failures as [`Adapter`].
pub trait TypedAdapter {
    /// The endpoint's settings.
    type Settings: EndpointSettings;
    /// What the host keeps between calls for one handover.
    type State: HandoverState;

    /// Static self-description. Must not perform I/O.
    fn describe() -> AdapterInfo;

    /// Opens the conversation; `state` starts as `State::default()` and is
    /// always saved.
    fn start(
        cx: &Cx<Self::Settings>,
        state: &mut Self::State,
        conversation: Conversation,
    ) -> Result<Output, Failure>;

    /// Forwards user input to the provider.
    fn user_message(
        cx: &Cx<Self::Settings>,
        state: &mut Self::State,
        input: UserInput,
    ) -> Result<Output, Failure>;

    /// The user cancelled before an agent became active.
    fn cancel(cx: &Cx<Self::Settings>, state: &mut Self::State) -> Result<Output, Failure> {
        let _ = (cx, state);
        Err(unsupported("this adapter cannot cancel a conversation"))
    }

    /// The bot side closes the conversation.
    fn close(cx: &Cx<Self::Settings>, state: &mut Self::State) -> Result<Output, Failure> {
        let _ = (cx, state);
        Err(unsupported(
            "this provider cannot close a conversation from the bot side",
        ))
    }

    /// The user started (`true`) or stopped typing (contract 0.2.0; called
    /// only when `capabilities.user_typing` is declared).
    #[cfg(feature = "contract-0-2")]
    fn user_typing(cx: &Cx<Self::Settings>, state: &mut Self::State, typing: bool) -> Reply {
        let _ = (cx, state, typing);
        Err(unsupported(
            "this adapter does not forward the user's typing",
        ))
    }

    /// Agents online / opening hours (outside any handover: no state).
    fn check_availability(settings: &Self::Settings) -> Result<Availability, Failure> {
        let _ = settings;
        Err(unsupported("this adapter cannot check availability"))
    }

    /// Webhook phase one: which handovers, delivery id, response.
    fn route_webhook(
        settings: &Self::Settings,
        request: HttpRequest,
    ) -> Result<WebhookRoute, Failure> {
        let _ = (settings, request);
        Err(unsupported("this adapter receives no webhooks"))
    }

    /// Webhook phase two: apply the webhook to one handover.
    fn handle_webhook(
        cx: &Cx<Self::Settings>,
        state: &mut Self::State,
        request: HttpRequest,
    ) -> Result<Output, Failure> {
        let _ = (cx, state, request);
        Err(unsupported("this adapter receives no webhooks"))
    }

    /// Fetches provider traffic for one handover.
    fn poll(cx: &Cx<Self::Settings>, state: &mut Self::State) -> Result<Output, Failure> {
        let _ = (cx, state);
        Err(unsupported("this adapter does not poll"))
    }
}

thread_local! {
    /// The settings this instance parsed last, with their text. An instance
    /// serves one endpoint (a webhook's two calls share one; a reused
    /// instance serves many calls), so the same text is parsed once, not
    /// once per call. Taken out for the length of a call.
    static PARSED: RefCell<Option<(String, Box<dyn Any>)>> = const { RefCell::new(None) };
}

/// The settings `text` parsed into `S`: the cached value when the text is
/// the one parsed last, else parsed now. Give it back with [`keep`].
fn take<S: EndpointSettings + 'static>(text: &str) -> Result<(String, Box<S>), Failure> {
    match PARSED.with(|p| p.borrow_mut().take()) {
        Some((t, any)) if t == text => match any.downcast::<S>() {
            Ok(settings) => Ok((t, settings)),
            Err(_) => Ok((t, Box::new(S::parse(text)?))),
        },
        _ => Ok((text.to_string(), Box::new(S::parse(text)?))),
    }
}

/// Keeps parsed settings for the next call (see [`take`]).
fn keep<S: 'static>(text: String, settings: Box<S>) {
    PARSED.with(|p| *p.borrow_mut() = Some((text, settings)));
}

/// Runs `call` with the settings `text` parsed (see [`take`]).
fn with_settings<S, R>(
    text: &str,
    call: impl FnOnce(&S) -> Result<R, Failure>,
) -> Result<R, Failure>
where
    S: EndpointSettings + 'static,
{
    let (text, settings) = take::<S>(text)?;
    let result = call(&settings);
    keep(text, settings);
    result
}

/// Like [`with_settings`], for a call that concerns a handover.
fn with_cx<S, R>(
    ctx: CallContext,
    call: impl FnOnce(&Cx<S>) -> Result<R, Failure>,
) -> Result<R, Failure>
where
    S: EndpointSettings + 'static,
{
    let (text, settings) = take::<S>(&ctx.settings)?;
    let cx = Cx {
        settings: *settings,
        handover_id: ctx.handover_id,
    };
    let result = call(&cx);
    keep(text, Box::new(cx.settings));
    result
}

/// Parses the settings, loads and checks the state, runs `call` and saves
/// the state (the given bytes when the call left it as loaded).
fn with_state<S, T>(
    ctx: CallContext,
    bytes: Vec<u8>,
    call: impl FnOnce(&Cx<S>, &mut T) -> Result<Output, Failure>,
) -> Result<Step, Failure>
where
    S: EndpointSettings + 'static,
    T: HandoverState,
{
    with_cx(ctx, |cx| {
        let mut st: T = state::load(&bytes)?;
        st.check()?;
        let loaded = state::save(&st);
        let out = call(cx, &mut st)?;
        let saved = state::save(&st);
        let state = if saved == loaded { bytes } else { saved };
        Ok(step(state, out))
    })
}

fn step(state: Vec<u8>, out: Output) -> Step {
    Step {
        state,
        events: out.events,
        correlation_keys: out.correlation_keys,
    }
}

impl<T: TypedAdapter> Adapter for T
where
    T::Settings: 'static,
{
    fn describe() -> AdapterInfo {
        T::describe()
    }

    fn validate_settings(settings: String) -> Result<(), Failure> {
        T::Settings::parse(&settings).map(drop)
    }

    fn start(ctx: CallContext, conversation: Conversation) -> Result<Step, Failure> {
        with_cx(ctx, |cx| {
            let mut st = T::State::default();
            let out = T::start(cx, &mut st, conversation)?;
            Ok(step(state::save(&st), out))
        })
    }

    fn user_message(ctx: CallContext, state: Vec<u8>, input: UserInput) -> Result<Step, Failure> {
        with_state(ctx, state, |cx, st| T::user_message(cx, st, input))
    }

    #[cfg(feature = "contract-0-2")]
    fn user_typing(ctx: CallContext, state: Vec<u8>, typing: bool) -> Result<Step, Failure> {
        with_state(ctx, state, |cx, st| T::user_typing(cx, st, typing))
    }

    fn cancel(ctx: CallContext, state: Vec<u8>) -> Result<Step, Failure> {
        with_state(ctx, state, T::cancel)
    }

    fn close(ctx: CallContext, state: Vec<u8>) -> Result<Step, Failure> {
        with_state(ctx, state, T::close)
    }

    fn check_availability(ctx: CallContext, _state: Vec<u8>) -> Result<Availability, Failure> {
        with_settings(&ctx.settings, T::check_availability)
    }

    fn route_webhook(settings: String, request: HttpRequest) -> Result<WebhookRoute, Failure> {
        with_settings(&settings, |s| T::route_webhook(s, request))
    }

    fn handle_webhook(
        ctx: CallContext,
        state: Vec<u8>,
        request: HttpRequest,
    ) -> Result<Step, Failure> {
        with_state(ctx, state, |cx, st| T::handle_webhook(cx, st, request))
    }

    fn poll(ctx: CallContext, state: Vec<u8>) -> Result<Step, Failure> {
        with_state(ctx, state, T::poll)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{ctx, request};
    use std::cell::Cell;

    thread_local! {
        static PARSES: Cell<u32> = const { Cell::new(0) };
    }

    /// Settings that count their parses; text `"bad"` is refused.
    struct Counted(String);

    impl EndpointSettings for Counted {
        fn parse(text: &str) -> Result<Self, Failure> {
            PARSES.with(|n| n.set(n.get() + 1));
            match text {
                "bad" => Err(crate::error("settings: bad")),
                _ => Ok(Counted(text.to_string())),
            }
        }
    }

    #[derive(serde::Serialize, serde::Deserialize, Default)]
    struct St {
        seen: Vec<String>,
    }
    impl HandoverState for St {}

    struct Echo;

    impl TypedAdapter for Echo {
        type Settings = Counted;
        type State = St;
        fn describe() -> AdapterInfo {
            AdapterInfo::new("echo", "0.0.0", &["web"])
        }
        fn start(_: &Cx<Counted>, _: &mut St, _: Conversation) -> Reply {
            Ok(Output::none())
        }
        fn user_message(_: &Cx<Counted>, _: &mut St, _: UserInput) -> Reply {
            Ok(Output::none())
        }
        fn route_webhook(s: &Counted, _: HttpRequest) -> Result<WebhookRoute, Failure> {
            Ok(WebhookRoute {
                response: crate::HttpResponse::json(200, "{}"),
                delivery_id: None,
                correlation_keys: vec![s.0.clone()],
            })
        }
        fn handle_webhook(cx: &Cx<Counted>, st: &mut St, _: HttpRequest) -> Reply {
            st.seen.push(cx.settings.0.clone());
            Ok(Output::none())
        }
    }

    fn route(settings: &str) -> Result<String, Failure> {
        let r = <Echo as Adapter>::route_webhook(settings.into(), request("/", "{}"))?;
        Ok(r.correlation_keys[0].clone())
    }

    fn handle(settings: &str) -> Vec<String> {
        let step = <Echo as Adapter>::handle_webhook(ctx(settings), vec![], request("/", "{}"));
        let st: St = state::load(&step.unwrap_or_else(|f| panic!("{}", f.message)).state).unwrap();
        st.seen
    }

    #[test]
    fn settings_are_parsed_once_per_text_and_each_call_gets_its_own() {
        let parses = || PARSES.with(Cell::get);
        assert_eq!(route("a").unwrap(), "a");
        assert_eq!(handle("a"), ["a"]);
        assert_eq!(route("a").unwrap(), "a");
        assert_eq!(parses(), 1, "the same text was parsed again");
        // Other settings (another endpoint) replace the cached ones.
        assert_eq!(handle("b"), ["b"]);
        assert_eq!(route("a").unwrap(), "a");
        assert_eq!(parses(), 3);
        // A refused text is refused every time and keeps nothing.
        assert_eq!(route("bad").unwrap_err().message, "settings: bad");
        assert_eq!(route("bad").unwrap_err().message, "settings: bad");
        assert_eq!(route("a").unwrap(), "a");
        assert_eq!(parses(), 6);
        // Validating settings always parses (a candidate's check).
        <Echo as Adapter>::validate_settings("a".into()).unwrap();
        assert_eq!(parses(), 7);
    }
}
