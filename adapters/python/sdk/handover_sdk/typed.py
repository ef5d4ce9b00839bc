"""The typed layer: subclass `TypedAdapter`, declare `Settings` (a
dataclass, see `handover_sdk.settings`) and `State` (a dataclass whose
fields all have defaults, see `handover_sdk.state`), and implement `info`
and the `on_*` hooks. The layer implements the WIT exports: it parses the
settings (failures name the field), loads and checks the state, calls the
hook, saves the state into the `step` (returning the host's bytes
unchanged when the hook left the state as loaded), and turns an
`AdapterFailure` into `Err(Failure(...))`. An unexpected exception becomes
an `error` failure naming it (and is logged), not a trap.

Hooks return an `Output` (events + correlation keys), a list of events,
or None. Optional hooks fail `unsupported`, as in the Rust SDK.
"""

import contextlib
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Generic, List, TypeVar, Union

from handover_sdk import log, settings as settings_mod, state as state_mod, wit
from handover_sdk.failure import AdapterFailure, unsupported

S = TypeVar("S")


@dataclass
class Cx(Generic[S]):
    """What a handover call gets besides its state."""

    settings: S
    handover_id: str


@dataclass
class Output:
    """Events to apply, in order, and new correlation keys."""

    events: List[Any] = field(default_factory=list)
    correlation_keys: List[str] = field(default_factory=list)

    def with_key(self, key: str) -> "Output":
        """Adds a key under which webhooks find this handover."""
        self.correlation_keys.append(key)
        return self


Reply = Union[Output, List[Any], None]


def _output(reply: Reply) -> Output:
    if reply is None:
        return Output()
    if isinstance(reply, Output):
        return reply
    return Output(events=list(reply))


@contextlib.contextmanager
def failures(call: str):
    """Turns what the block raises into the WIT `Err(Failure(...))`."""
    try:
        yield
    except AdapterFailure as f:
        raise f.to_err() from None
    except wit.Err:
        raise
    except Exception as e:  # a bug in the adapter: report it, do not trap
        log.error(f"{call} raised {type(e).__name__}", traceback=traceback.format_exc(limit=8))
        message = f"adapter bug in {call}: {type(e).__name__}: {e}"
        raise wit.Err(wit.Failure(reason=wit.FailureReason.ERROR, message=message)) from None


class TypedAdapter:
    """Base of the exported `Adapter` class (see the module docstring)."""

    Settings: Any = dict
    State: Any = dict

    # --- what an adapter implements -------------------------------------
    def info(self) -> "wit.AdapterInfo":
        raise NotImplementedError("TypedAdapter.info")

    def on_start(self, cx: Cx, state: Any, conversation: "wit.Conversation") -> Reply:
        raise NotImplementedError("TypedAdapter.on_start")

    def on_user_message(self, cx: Cx, state: Any, user_input: "wit.UserInput") -> Reply:
        raise NotImplementedError("TypedAdapter.on_user_message")

    def on_user_typing(self, cx: Cx, state: Any, typing: bool) -> Reply:
        """Contract 0.2.0: the user started (True) or stopped typing; called
        only when `capabilities(user_typing=True)` is declared."""
        raise unsupported("this adapter does not forward the user's typing")

    def on_cancel(self, cx: Cx, state: Any) -> Reply:
        raise unsupported("this adapter cannot cancel a conversation")

    def on_close(self, cx: Cx, state: Any) -> Reply:
        raise unsupported("this provider cannot close a conversation from the bot side")

    def on_check_availability(self, settings: Any) -> "wit.Availability":
        raise unsupported("this adapter cannot check availability")

    def on_route_webhook(self, settings: Any, request: "wit.HttpRequest") -> "wit.WebhookRoute":
        raise unsupported("this adapter receives no webhooks")

    def on_handle_webhook(self, cx: Cx, state: Any, request: "wit.HttpRequest") -> Reply:
        raise unsupported("this adapter receives no webhooks")

    def on_poll(self, cx: Cx, state: Any) -> Reply:
        raise unsupported("this adapter does not poll")

    # --- the WIT exports --------------------------------------------------
    def _cx(self, ctx: "wit.CallContext") -> Cx:
        return Cx(settings_mod.parse(self.Settings, ctx.settings), ctx.handover_id)

    def _with_state(self, call: str, ctx, data: bytes, hook: Callable[[Cx, Any], Reply]) -> "wit.Step":
        with failures(call):
            cx = self._cx(ctx)
            st = state_mod.load(self.State, data)
            check = getattr(st, "check", None)
            if callable(check):
                check()
            loaded = state_mod.save(st)
            out = _output(hook(cx, st))
            saved = state_mod.save(st)
            return wit.Step(state=bytes(data) if saved == loaded else saved,
                            events=out.events, correlation_keys=out.correlation_keys)

    def describe(self) -> "wit.AdapterInfo":
        return self.info()

    def validate_settings(self, settings: str) -> None:
        with failures("validate-settings"):
            settings_mod.parse(self.Settings, settings)

    def start(self, ctx, conversation) -> "wit.Step":
        with failures("start"):
            cx = self._cx(ctx)
            st = self.State()
            out = _output(self.on_start(cx, st, conversation))
            return wit.Step(state=state_mod.save(st), events=out.events, correlation_keys=out.correlation_keys)

    def user_message(self, ctx, state: bytes, input) -> "wit.Step":
        return self._with_state("user-message", ctx, state, lambda cx, st: self.on_user_message(cx, st, input))

    def user_typing(self, ctx, state: bytes, typing: bool) -> "wit.Step":
        """Contract 0.2.0's export (a 0.1.0 build never has it called)."""
        return self._with_state("user-typing", ctx, state, lambda cx, st: self.on_user_typing(cx, st, typing))

    def cancel(self, ctx, state: bytes) -> "wit.Step":
        return self._with_state("cancel", ctx, state, self.on_cancel)

    def close(self, ctx, state: bytes) -> "wit.Step":
        return self._with_state("close", ctx, state, self.on_close)

    def check_availability(self, ctx, state: bytes) -> "wit.Availability":
        with failures("check-availability"):
            return self.on_check_availability(settings_mod.parse(self.Settings, ctx.settings))

    def route_webhook(self, settings: str, request) -> "wit.WebhookRoute":
        with failures("route-webhook"):
            return self.on_route_webhook(settings_mod.parse(self.Settings, settings), request)

    def handle_webhook(self, ctx, state: bytes, request) -> "wit.Step":
        return self._with_state("handle-webhook", ctx, state, lambda cx, st: self.on_handle_webhook(cx, st, request))

    def poll(self, ctx, state: bytes) -> "wit.Step":
        return self._with_state("poll", ctx, state, self.on_poll)
