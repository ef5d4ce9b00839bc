"""The contract's types: the generated bindings of `handover:provider/types`
(module `wit_world.imports.handover_provider_types` in a componentize-py
build), re-exported here under their generated names (`Conversation`,
`Event_AgentJoined`, `FailureReason.ERROR`, ...).

Outside a component (plain CPython, unit tests) there are no generated
bindings: the stand-ins of `handover_sdk.stubs` are installed in
their place first, so adapter code and its tests import the same names.
"""

try:
    from wit_world.imports.handover_provider_types import *  # noqa: F401,F403
    from componentize_py_types import Err, Ok, Some  # noqa: F401
except ImportError:  # plain CPython: no componentize-py build
    from handover_sdk import stubs as _stubs

    _stubs.install()
    from wit_world.imports.handover_provider_types import *  # noqa: F401,F403
    from componentize_py_types import Err, Ok, Some  # noqa: F401
