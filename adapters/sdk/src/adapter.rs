//! The [`Adapter`] trait: the generated `Guest` trait with defaults for the
//! exports a provider may not need, so an adapter writes only its logic.

use crate::bindings::exports::handover::provider::adapter::Guest;
use crate::failure::unsupported;
use crate::types::{
    AdapterInfo, Availability, CallContext, Conversation, Failure, HttpRequest, Step, UserInput,
    WebhookRoute,
};

/// One provider adapter. Mirrors the WIT `adapter` interface; see
/// `wit/v0.1.0/handover.wit` for the contract of each call. Every type that
/// implements it can be exported with [`export!`](crate::export).
///
/// Optional calls default to an `unsupported` failure (and
/// `validate_settings` to accepting anything).
pub trait Adapter {
    /// Static self-description. Must not perform I/O.
    fn describe() -> AdapterInfo;

    /// Checks an endpoint's settings; the failure names the field to fix.
    fn validate_settings(settings: String) -> Result<(), Failure> {
        let _ = settings;
        Ok(())
    }

    /// Opens the conversation at the provider (`state` starts empty).
    fn start(ctx: CallContext, conversation: Conversation) -> Result<Step, Failure>;

    /// Forwards user input to the provider.
    fn user_message(ctx: CallContext, state: Vec<u8>, input: UserInput) -> Result<Step, Failure>;

    /// The user started (`true`) or stopped typing (contract 0.2.0; called
    /// only when `capabilities.user_typing` is declared).
    #[cfg(feature = "contract-0-2")]
    fn user_typing(ctx: CallContext, state: Vec<u8>, typing: bool) -> Result<Step, Failure> {
        let _ = (ctx, state, typing);
        Err(unsupported(
            "this adapter does not forward the user's typing",
        ))
    }

    /// The user cancelled before an agent became active.
    fn cancel(ctx: CallContext, state: Vec<u8>) -> Result<Step, Failure> {
        let _ = (ctx, state);
        Err(unsupported("this adapter cannot cancel a conversation"))
    }

    /// The bot side closes the conversation.
    fn close(ctx: CallContext, state: Vec<u8>) -> Result<Step, Failure> {
        let _ = (ctx, state);
        Err(unsupported(
            "this provider cannot close a conversation from the bot side",
        ))
    }

    /// Agents online / opening hours (outside any handover).
    fn check_availability(ctx: CallContext, state: Vec<u8>) -> Result<Availability, Failure> {
        let _ = (ctx, state);
        Err(unsupported("this adapter cannot check availability"))
    }

    /// Webhook phase one: which handovers, delivery id, response.
    fn route_webhook(settings: String, request: HttpRequest) -> Result<WebhookRoute, Failure> {
        let _ = (settings, request);
        Err(unsupported("this adapter receives no webhooks"))
    }

    /// Webhook phase two: apply the webhook to one handover.
    fn handle_webhook(
        ctx: CallContext,
        state: Vec<u8>,
        request: HttpRequest,
    ) -> Result<Step, Failure> {
        let _ = (ctx, state, request);
        Err(unsupported("this adapter receives no webhooks"))
    }

    /// Fetches provider traffic for one handover.
    fn poll(ctx: CallContext, state: Vec<u8>) -> Result<Step, Failure> {
        let _ = (ctx, state);
        Err(unsupported("this adapter does not poll"))
    }
}

impl<T: Adapter> Guest for T {
    fn describe() -> AdapterInfo {
        T::describe()
    }
    fn validate_settings(settings: String) -> Result<(), Failure> {
        T::validate_settings(settings)
    }
    fn start(ctx: CallContext, conversation: Conversation) -> Result<Step, Failure> {
        T::start(ctx, conversation)
    }
    fn user_message(ctx: CallContext, state: Vec<u8>, input: UserInput) -> Result<Step, Failure> {
        T::user_message(ctx, state, input)
    }
    #[cfg(feature = "contract-0-2")]
    fn user_typing(ctx: CallContext, state: Vec<u8>, typing: bool) -> Result<Step, Failure> {
        T::user_typing(ctx, state, typing)
    }
    fn cancel(ctx: CallContext, state: Vec<u8>) -> Result<Step, Failure> {
        T::cancel(ctx, state)
    }
    fn close(ctx: CallContext, state: Vec<u8>) -> Result<Step, Failure> {
        T::close(ctx, state)
    }
    fn check_availability(ctx: CallContext, state: Vec<u8>) -> Result<Availability, Failure> {
        T::check_availability(ctx, state)
    }
    fn route_webhook(settings: String, request: HttpRequest) -> Result<WebhookRoute, Failure> {
        T::route_webhook(settings, request)
    }
    fn handle_webhook(
        ctx: CallContext,
        state: Vec<u8>,
        request: HttpRequest,
    ) -> Result<Step, Failure> {
        T::handle_webhook(ctx, state, request)
    }
    fn poll(ctx: CallContext, state: Vec<u8>) -> Result<Step, Failure> {
        T::poll(ctx, state)
    }
}
