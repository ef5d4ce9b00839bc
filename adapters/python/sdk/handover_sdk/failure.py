"""Failures: the product's error model has exactly two reasons,
`unsupported` (channel or capability) and `error` (talking to the provider,
or bad data). Adapter code raises an `AdapterFailure` (built with `error`
or `unsupported`); the typed layer turns it into the WIT result
`Err(Failure(reason, message))`. Messages are for operators: actionable,
never secrets.
"""

from handover_sdk import wit


class AdapterFailure(Exception):
    """A failed call: `reason` is a `wit.FailureReason`, `message` the text."""

    def __init__(self, reason: "wit.FailureReason", message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message

    def to_wit(self) -> "wit.Failure":
        """The contract's `failure` record."""
        return wit.Failure(reason=self.reason, message=self.message)

    def to_err(self) -> "wit.Err":
        """What an export raises for `result<_, failure>`."""
        return wit.Err(self.to_wit())

    def __repr__(self) -> str:
        return f"AdapterFailure({self.reason.name.lower()}: {self.message!r})"


def error(message: str) -> AdapterFailure:
    """Something went wrong talking to the provider (or with its data)."""
    return AdapterFailure(wit.FailureReason.ERROR, message)


def unsupported(message: str) -> AdapterFailure:
    """The channel or a capability is not supported by the provider or adapter."""
    return AdapterFailure(wit.FailureReason.UNSUPPORTED, message)
