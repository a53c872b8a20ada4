"""Envelope encryption for the secrets the service keeps: webhook signing secrets and the
values of `Subscription.channel.header` (often a receiver's bearer token).

Every value gets its own random data key; the value is encrypted with it (AES-256-GCM, the
column's purpose as associated data, so a sealed secret cannot be passed off as headers), and
the data key is stored beside it wrapped (RFC 3394 AES key wrap) by the key-encryption key
(KEK) from `LBP_SECRET_KEY` or `LBP_SECRET_KEY_FILE`. The KEK never touches the database;
rotating it re-wraps the 40-byte data keys and leaves the ciphertexts alone.

Sealed form (text, fits any column):  lbp1:<KEK id>:<wrapped data key>:<nonce + ciphertext>
(base64url without padding). The KEK id is the first 8 bytes of SHA-256 of the key, in hex,
so a value names the key it needs without revealing it.

Several KEKs may be configured (comma-separated, newest first): the first seals, all of them
open. That is the rotation: add the new key in front, run `lbp-triage migrate` (it re-wraps
every data key under the first key), then drop the old key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap

log = logging.getLogger("lbp_triage.keyring")

PREFIX = "lbp1"
KEY_BYTES = 32
DEVELOPMENT_KEY_FILE = "lbp-triage.key"


class KeyConfigurationError(ValueError):
    """No usable key-encryption key: the service must not start."""


class SealedValueError(ValueError):
    """A sealed value that cannot be opened: unknown key, or tampered with."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:16]


def new_key() -> str:
    """A fresh key-encryption key, as LBP_SECRET_KEY takes it."""
    return _b64(secrets.token_bytes(KEY_BYTES))


def parse_keys(text: str, source: str = "LBP_SECRET_KEY") -> list[bytes]:
    """'k1,k2' (or one per line): base64 (standard or URL-safe) of 32 random bytes each."""
    keys = []
    for part in text.replace("\n", ",").split(","):
        part = part.strip()
        if not part or part.startswith("#"):
            continue
        try:
            key = base64.urlsafe_b64decode(part.replace("+", "-").replace("/", "_") + "=" * (-len(part) % 4))
        except (binascii.Error, ValueError):
            key = b""
        if len(key) != KEY_BYTES:
            raise KeyConfigurationError(
                f"{source} must hold base64 keys of 32 random bytes, comma-separated (make one with "
                "`openssl rand -base64 32`)"
            )
        keys.append(key)
    if not keys:
        raise KeyConfigurationError(f"{source} holds no key")
    return keys


@dataclass(frozen=True)
class Keyring:
    keys: tuple[bytes, ...]  # the first seals; all open

    def __post_init__(self) -> None:
        if not self.keys:
            raise KeyConfigurationError("a keyring needs at least one key")

    @property
    def primary_id(self) -> str:
        return key_id(self.keys[0])

    def _key(self, wanted: str) -> bytes:
        for key in self.keys:
            if key_id(key) == wanted:
                return key
        raise SealedValueError(f"sealed with key {wanted}, which is not configured (LBP_SECRET_KEY)")

    def seal(self, plaintext: bytes, purpose: str) -> str:
        data_key = AESGCM.generate_key(bit_length=256)
        nonce = os.urandom(12)
        ciphertext = AESGCM(data_key).encrypt(nonce, plaintext, purpose.encode())
        wrapped = aes_key_wrap(self.keys[0], data_key)
        return ":".join((PREFIX, self.primary_id, _b64(wrapped), _b64(nonce + ciphertext)))

    def open(self, sealed: str, purpose: str) -> bytes:
        kek_id, wrapped, payload = _parts(sealed)
        try:
            data_key = aes_key_unwrap(self._key(kek_id), wrapped)
            return AESGCM(data_key).decrypt(payload[:12], payload[12:], purpose.encode())
        except (InvalidUnwrap, InvalidTag):
            raise SealedValueError("a sealed value does not open: altered, or another key") from None

    def rewrap(self, sealed: str) -> str | None:
        """The same value with its data key wrapped by the first key; None when it already is."""
        kek_id, wrapped, payload = _parts(sealed)
        if kek_id == self.primary_id:
            return None
        try:
            data_key = aes_key_unwrap(self._key(kek_id), wrapped)
        except InvalidUnwrap:
            raise SealedValueError("a data key does not unwrap: altered, or another key") from None
        return ":".join((PREFIX, self.primary_id, _b64(aes_key_wrap(self.keys[0], data_key)), _b64(payload)))


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX + ":")


def _parts(sealed: str) -> tuple[str, bytes, bytes]:
    try:
        prefix, kek_id, wrapped, payload = sealed.split(":")
        if prefix != PREFIX:
            raise ValueError
        return kek_id, _unb64(wrapped), _unb64(payload)
    except (ValueError, binascii.Error, AttributeError):
        raise SealedValueError("not a sealed value") from None


def load_keyring(
    secret_key: str | None, secret_key_file: str | None, *, production: bool, development_file: Path
) -> Keyring:
    """The configured keys; in development, without any, a generated key kept in a file."""
    if secret_key and secret_key.strip():
        return Keyring(tuple(parse_keys(secret_key)))
    if secret_key_file:
        try:
            text = Path(secret_key_file).read_text()
        except OSError as exc:
            raise KeyConfigurationError(f"LBP_SECRET_KEY_FILE {secret_key_file}: {exc.strerror}") from None
        return Keyring(tuple(parse_keys(text, "LBP_SECRET_KEY_FILE")))
    if production:
        raise KeyConfigurationError(
            "no key to encrypt webhook secrets with: set LBP_SECRET_KEY (make one with `openssl rand -base64 32`) "
            "or LBP_SECRET_KEY_FILE (operator's guide: Secrets at rest and the key)"
        )
    if development_file.exists():
        return Keyring(tuple(parse_keys(development_file.read_text(), str(development_file))))
    fd = os.open(development_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(new_key() + "\n")
    log.warning(
        "DEVELOPMENT: generated a key to encrypt webhook secrets in %s (kept there for the next runs). "
        "In production set LBP_SECRET_KEY or LBP_SECRET_KEY_FILE.",
        development_file,
    )
    return Keyring(tuple(parse_keys(development_file.read_text(), str(development_file))))
