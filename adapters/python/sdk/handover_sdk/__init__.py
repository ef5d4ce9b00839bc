"""`handover_sdk`: everything a Python provider adapter needs besides its
provider logic, for componentize-py components of the `handover-adapter`
world (wit/v0.1.0/handover.wit). The Python counterpart of the Rust SDK in
adapters/sdk.

Modules: `typed` (TypedAdapter: settings, state and failures around the
exports), `settings`, `state`, `events`, `failure` (`error`,
`unsupported`), `channels`, `describe`, `signature`, `webhook`, `http`
(JSON over wasi:http; `transport` is its test seam, `wasi_http` the real
one), `log`, `convert` (JSON <-> dataclasses), `wit` (the contract's
types) and `stubs` (stand-in bindings outside a component) and `testing` (fakes and builders for unit tests).
"""

from handover_sdk.failure import AdapterFailure, error, unsupported  # noqa: F401
