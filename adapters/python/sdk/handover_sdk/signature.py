"""Webhook signature declarations for `describe`: how the provider signs
its webhooks. The host verifies them with the endpoint's webhook secret
before calling `route-webhook`; the adapter never sees the secret.

    hmac_sha256("X-Sim-Signature", prefix="sha256=",
                signed=timestamp_then_body("."),
                timestamp_header="X-Sim-Timestamp",
                delivery_id_header="X-Sim-Delivery")
"""

from typing import Optional

from handover_sdk import wit

BODY = wit.SignedContent_Body()
"""The raw body is signed."""
URL_THEN_BODY = wit.SignedContent_UrlThenBody()
"""The full public webhook URL, then the body."""


def timestamp_then_body(separator: str) -> "wit.SignedContent":
    """The timestamp header's value, `separator`, then the body."""
    return wit.SignedContent_TimestampThenBody(separator)


_ENCODINGS = {"hex": wit.SignatureEncoding.HEX, "base64": wit.SignatureEncoding.BASE64}


def declare(
    algorithm: "wit.SignatureAlgorithm",
    header: str,
    *,
    encoding: str = "hex",
    prefix: Optional[str] = None,
    signed: "wit.SignedContent" = BODY,
    timestamp_header: Optional[str] = None,
    delivery_id_header: Optional[str] = None,
) -> "wit.WebhookSignature":
    """The `webhook-signature` record; `encoding` is "hex" or "base64"."""
    if encoding not in _ENCODINGS:
        raise ValueError(f"signature encoding must be 'hex' or 'base64', got {encoding!r}")
    return wit.WebhookSignature(
        algorithm=algorithm,
        header=header,
        encoding=_ENCODINGS[encoding],
        prefix=prefix,
        signed=signed,
        timestamp_header=timestamp_header,
        delivery_id_header=delivery_id_header,
    )


def hmac_sha256(header: str, **options) -> "wit.WebhookSignature":
    return declare(wit.SignatureAlgorithm.HMAC_SHA256, header, **options)


def hmac_sha1(header: str, **options) -> "wit.WebhookSignature":
    return declare(wit.SignatureAlgorithm.HMAC_SHA1, header, **options)


def hmac_sha512(header: str, **options) -> "wit.WebhookSignature":
    return declare(wit.SignatureAlgorithm.HMAC_SHA512, header, **options)


def shared_secret(header: str, **options) -> "wit.WebhookSignature":
    """The header carries the secret itself (compared in constant time)."""
    return declare(wit.SignatureAlgorithm.SHARED_SECRET, header, **options)
