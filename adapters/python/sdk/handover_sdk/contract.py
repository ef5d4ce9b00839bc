"""Which contract version this build of the adapter targets, read from the
bindings it was built with: `wit/v0.2.0` has types 0.1.0 lacks (and the
stand-ins follow `HANDOVER_CONTRACT`). `build.sh` picks the version: the
adapter folder's `CONTRACT` file, else `$HANDOVER_CONTRACT`, else 0.1.0.
"""

from handover_sdk import wit

VERSION = "0.2.0" if hasattr(wit, "HandBack") else "0.1.0"


def require_0_2(what: str) -> None:
    """Fails, naming `what` and how to build for 0.2.0, in a 0.1.0 build."""
    if VERSION != "0.2.0":
        raise TypeError(
            f"{what} needs contract 0.2.0; this adapter is built for {VERSION} "
            "(write 0.2.0 into the adapter folder's CONTRACT file, or set HANDOVER_CONTRACT=0.2.0)"
        )
