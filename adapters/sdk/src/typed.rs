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
/// export it with [`export!`](crate::export). Every call parses the
/// settings into [`Self::Settings`](TypedAdapter::Settings) (failures name
/// the field) and, for a call that concerns a handover, loads and checks
/// [`Self::State`](TypedAdapter::State) (`start` gets `State::default()`).
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

fn cx<S: EndpointSettings>(ctx: CallContext) -> Result<Cx<S>, Failure> {
    Ok(Cx {
        settings: S::parse(&ctx.settings)?,
        handover_id: ctx.handover_id,
    })
}

/// Parses the settings, loads and checks the state, runs `call` and saves
/// the state (the given bytes when the call left it as loaded).
fn with_state<S, T>(
    ctx: CallContext,
    bytes: Vec<u8>,
    call: impl FnOnce(&Cx<S>, &mut T) -> Result<Output, Failure>,
) -> Result<Step, Failure>
where
    S: EndpointSettings,
    T: HandoverState,
{
    let cx = cx::<S>(ctx)?;
    let mut st: T = state::load(&bytes)?;
    st.check()?;
    let loaded = state::save(&st);
    let out = call(&cx, &mut st)?;
    let saved = state::save(&st);
    let state = if saved == loaded { bytes } else { saved };
    Ok(step(state, out))
}

fn step(state: Vec<u8>, out: Output) -> Step {
    Step {
        state,
        events: out.events,
        correlation_keys: out.correlation_keys,
    }
}

impl<T: TypedAdapter> Adapter for T {
    fn describe() -> AdapterInfo {
        T::describe()
    }

    fn validate_settings(settings: String) -> Result<(), Failure> {
        T::Settings::parse(&settings).map(drop)
    }

    fn start(ctx: CallContext, conversation: Conversation) -> Result<Step, Failure> {
        let cx = cx::<T::Settings>(ctx)?;
        let mut st = T::State::default();
        let out = T::start(&cx, &mut st, conversation)?;
        Ok(step(state::save(&st), out))
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
        T::check_availability(&T::Settings::parse(&ctx.settings)?)
    }

    fn route_webhook(settings: String, request: HttpRequest) -> Result<WebhookRoute, Failure> {
        T::route_webhook(&T::Settings::parse(&settings)?, request)
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
