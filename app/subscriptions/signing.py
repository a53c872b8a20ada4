"""Standard Webhooks signatures (https://www.standardwebhooks.com): a few lines of HMAC.

Secrets are `whsec_` + base64 of 24 to 64 random bytes; the service makes them from 32.
The signature is `v1,` + base64(HMAC-SHA256(secret bytes, "{id}.{timestamp}.{body}")).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import uuid

PREFIX = "whsec_"
_MESSAGE_NAMESPACE = uuid.UUID("6f0c2f1e-8a4b-5d7e-9c1a-2b3d4e5f6a7b")


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_` secret; ValueError when it is not one."""
    if not isinstance(secret, str) or not secret.startswith(PREFIX):
        raise ValueError("not a whsec_ secret")
    try:
        key = base64.b64decode(secret[len(PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not base64") from None
    if not 24 <= len(key) <= 64:
        raise ValueError("a secret holds 24 to 64 bytes")
    return key


def sign(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def message_id(subscription_id: str, event: str) -> str:
    """The `webhook-id`: the same for one event and one subscription, whoever sends it, however often."""
    return "msg_" + uuid.uuid5(_MESSAGE_NAMESPACE, f"{subscription_id}|{event}").hex
