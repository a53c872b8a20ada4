"""The token issuer's keys (JWKS), cached so that no request waits on the issuer when it
need not, and none stalls the others when it must.

- Fetched with a timeout (LBP_JWT_JWKS_TIMEOUT_SECONDS); in the API, in a worker thread, with
  one fetch in flight at a time: requests needing keys wait for it, the others go on.
- Served from cache; refreshed in the background once older than MAX_AGE.
- A failed fetch is remembered for FAILURE_SECONDS: no request fetches again meanwhile (with
  no keys at all they get 503, with keys they are served from the old ones).
- An unknown `kid` (key rotation) refetches at most once every UNKNOWN_KID_SECONDS.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import anyio
import httpx
from joserfc.jwk import KeySet

log = logging.getLogger("lbp_triage.jwks")

MAX_AGE = 300.0
FAILURE_SECONDS = 10.0
UNKNOWN_KID_SECONDS = 10.0
MAX_JWKS_BYTES = 1_048_576


class KeysUnavailable(Exception):
    """No key set can be had from the issuer right now (503)."""


class JwksCache:
    def __init__(self, url: str, timeout: float) -> None:
        self.url = url
        self.timeout = timeout
        self._keys: KeySet | None = None
        self._fetched_at = float("-inf")
        self._failed_until = float("-inf")
        self._unknown_refetched_at = float("-inf")
        self._lock = threading.Lock()  # one fetch at a time
        self._inflight: asyncio.Task[None] | None = None
        self._refreshing = False

    # --- what callers use ------------------------------------------------------------------

    async def prepare(self, kid: str | None) -> None:
        """Make sure the keys for this kid are fetched if they can and should be, without
        blocking the event loop; requests that need no fetch return at once."""
        if self._wanted(kid) is None:
            if self._stale():
                self._refresh_in_background()
            return
        loop = asyncio.get_running_loop()
        task = self._inflight
        if task is None or task.done() or task.get_loop() is not loop:
            task = loop.create_task(anyio.to_thread.run_sync(self._fetch_if_wanted, kid))
            self._inflight = task
        await asyncio.shield(task)

    def key_set(self, kid: str | None) -> KeySet:
        """The cached keys (fetching first, blocking, when they are wanted and allowed)."""
        if self._wanted(kid) is not None:  # checked before taking the lock a fetch may hold
            self._fetch_if_wanted(kid)
        if self._keys is None:
            raise KeysUnavailable()
        return self._keys

    # --- how ---------------------------------------------------------------------------------

    def _knows(self, kid: str | None) -> bool:
        return self._keys is not None and (kid is None or any(k.kid == kid for k in self._keys.keys))

    def _stale(self) -> bool:
        return time.monotonic() - self._fetched_at > MAX_AGE

    def _wanted(self, kid: str | None) -> str | None:
        """Why a fetch is due now, or None."""
        now = time.monotonic()
        if self._knows(kid) or now < self._failed_until:
            return None
        if self._keys is None:
            return "no keys"
        if now - self._unknown_refetched_at >= UNKNOWN_KID_SECONDS:
            return "unknown kid"
        return None

    def _fetch_if_wanted(self, kid: str | None) -> None:
        with self._lock:
            reason = self._wanted(kid)
            if reason is None:
                return
            if reason == "unknown kid":
                self._unknown_refetched_at = time.monotonic()
            self._fetch()

    def _fetch(self) -> None:
        try:
            response = httpx.get(self.url, timeout=self.timeout, follow_redirects=False)
            response.raise_for_status()
            if len(response.content) > MAX_JWKS_BYTES:
                raise ValueError("key set too large")
            keys = KeySet.import_key_set(response.json())
        except Exception as exc:  # any failure: remember it briefly, keep the old keys
            self._failed_until = time.monotonic() + FAILURE_SECONDS
            log.warning("JWKS fetch failed", extra={"error": type(exc).__name__})
            return
        self._keys, self._fetched_at = keys, time.monotonic()

    def _refresh_in_background(self) -> None:
        if self._refreshing or time.monotonic() < self._failed_until:
            return
        self._refreshing = True

        def refresh() -> None:
            try:
                with self._lock:
                    if self._stale():
                        self._fetch()
            finally:
                self._refreshing = False

        threading.Thread(target=refresh, name="jwks-refresh", daemon=True).start()
