"""``CampaignStore``: one campaign's keys on one Redis connection pool, and its scripts, each
call bounded by a timeout and counted (the round trips a benchmark reports)."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from typing import Any, Final

import redis.asyncio as aioredis

from d360_async._campaign_journal import JournalError, JournalUnavailableError
from d360_async._errors import ValidationError

from . import _scripts
from ._connect import REDIS_ERRORS, connect, describe, positive
from ._layout import campaign_keys

__all__ = ["CampaignStore", "keyed_digest"]

_DIGEST_BYTES: Final = 16
_FIRST_RETRY: Final = 0.05
_LAST_RETRY: Final = 1.0
_SCRIPTS: Final = {
    "open": _scripts.OPEN,
    "enqueue": _scripts.ENQUEUE,
    "claim": _scripts.CLAIM,
    "apply": _scripts.APPLY,
    "heartbeat": _scripts.HEARTBEAT,
    "report": _scripts.REPORT,
    "deliver": _scripts.DELIVER,
}


def keyed_digest(data: bytes, salt: bytes) -> str:
    """What the campaign stores instead of ``data`` (a recipient, a message body): a keyed
    BLAKE2b digest, with the campaign's own random salt.

    Example:
        >>> len(keyed_digest(b"4915112345678", b"salt"))
        32
    """
    return hashlib.blake2b(data, key=salt, digest_size=_DIGEST_BYTES).hexdigest()


class CampaignStore:
    """Campaign ``campaign_id`` on ``redis`` (a URL, or a ``redis.asyncio.Redis`` left open).

    Args:
        redis: A ``redis://`` URL or a client.
        campaign_id: The campaign's name.
        prefix: First part of every key.
        timeout: Seconds any call may take before ``JournalUnavailableError``.
        max_connections: Size of the pool made for a URL.
    """

    __slots__ = ("_own", "_scripts", "keys", "redis", "round_trips", "salt", "timeout")

    def __init__(
        self,
        redis: str | aioredis.Redis,
        campaign_id: str,
        *,
        prefix: str = "d360",
        timeout: float = 5.0,
        max_connections: int = 8,
    ) -> None:
        self.keys = campaign_keys(campaign_id, prefix)
        self.timeout = positive("timeout", timeout)
        self.redis, self._own = connect(redis, max_connections=max_connections, timeout=timeout)
        self._scripts = {name: self.redis.register_script(text) for name, text in _SCRIPTS.items()}
        #: Calls made to the server so far.
        self.round_trips = 0
        #: The campaign's salt for digests (after ``open``).
        self.salt = b""

    @property
    def campaign_id(self) -> str:
        return self.keys.campaign_id

    def __repr__(self) -> str:
        return f"CampaignStore({self.campaign_id!r})"

    async def call(self, script: str, args: list[Any]) -> Any:
        """Run one of the campaign's scripts (one round trip).

        Raises:
            JournalUnavailableError: The server did not answer within ``timeout`` or failed.
        """
        self.round_trips += 1
        try:
            async with asyncio.timeout(self.timeout):
                return await self._scripts[script](keys=self.keys.all, args=args)
        except REDIS_ERRORS as exc:
            raise self.unavailable(exc) from exc

    async def call_patiently(self, script: str, args: list[Any], patience: float) -> Any:
        """``call``, tried again while Redis is unavailable, for up to ``patience`` seconds
        (for scripts that are safe to run twice: every script of a campaign is).

        Raises:
            JournalUnavailableError: Still unavailable after ``patience`` seconds.
        """
        loop = asyncio.get_running_loop()
        give_up = loop.time() + patience
        delay = _FIRST_RETRY
        while True:
            try:
                return await self.call(script, args)
            except JournalUnavailableError:
                if loop.time() + delay > give_up:
                    raise
            await asyncio.sleep(delay)
            delay = min(2 * delay, _LAST_RETRY)

    async def command(self, *args: Any) -> Any:
        """One plain command (one round trip), bounded and typed like ``call``."""
        self.round_trips += 1
        try:
            async with asyncio.timeout(self.timeout):
                return await self.redis.execute_command(*args)  # type: ignore[no-untyped-call]
        except REDIS_ERRORS as exc:
            raise self.unavailable(exc) from exc

    def unavailable(self, exc: BaseException) -> JournalUnavailableError:
        return JournalUnavailableError(
            f"campaign {self.campaign_id!r}: redis unavailable ({describe(exc)}); nothing is "
            "sent without its state recorded"
        )

    async def open(self, *, create: bool, keep_for: float | None = None) -> None:
        """Find the campaign (``create``: make it if new) and read its salt.

        Raises:
            JournalError: It does not exist (and ``create`` is False), or its keys hold another.
            JournalUnavailableError: Redis did not answer.
        """
        if create:
            keep = "0" if keep_for is None else str(max(1, round(keep_for)))
            (salt,) = await self.call("open", [self.campaign_id, secrets.token_hex(16), keep])
            if salt is None:
                raise JournalError(f"campaign {self.campaign_id!r}: its keys hold another campaign")
        else:
            salt = await self.command("HGET", self.keys.meta, "salt")
            if salt is None:
                raise JournalError(
                    f"no campaign {self.campaign_id!r} in redis: enqueue it first "
                    "(enqueue_campaign), or it was deleted or has expired"
                )
        self.salt = bytes.fromhex(salt.decode())

    def digest(self, data: bytes) -> str:
        """The campaign's keyed digest of ``data`` (after ``open``)."""
        return keyed_digest(data, self.salt)

    async def aclose(self) -> None:
        """Close the pool made for a URL (a client given is left open)."""
        if self._own:
            await self.redis.aclose()


def check_keep(keep_for: object) -> float | None:
    """``keep_for`` as seconds, or None (keep until deleted).

    Raises:
        ValidationError: It is not a positive number or None.
    """
    if keep_for is None:
        return None
    if isinstance(keep_for, bool) or not isinstance(keep_for, int | float) or not keep_for > 0:
        raise ValidationError("keep_for", "must be a positive number of seconds or None")
    return float(keep_for)
