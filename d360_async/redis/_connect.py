"""Connecting to Redis: one rule for the limiter, the producer and the workers.

A URL gets its own blocking connection pool whose every wait (a free connection, a connect, an
answer) is bounded by ``timeout``, with no silent retry: a caller learns at once that the server
is unreachable and fails closed. A ``redis.asyncio.Redis`` given by the caller is used as is.
"""

from __future__ import annotations

import hashlib
from typing import Final

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from d360_async._errors import ValidationError

__all__ = ["REDIS_ERRORS", "connect", "describe", "digest", "positive"]

#: What a call to an unreachable, slow or failing server raises.
REDIS_ERRORS: Final = (RedisError, OSError, TimeoutError)


def connect(
    redis: str | aioredis.Redis, *, max_connections: int, timeout: float
) -> tuple[aioredis.Redis, bool]:
    """A client for ``redis`` (a URL or a client), and whether the caller owns (closes) it.

    Raises:
        ValidationError: ``redis`` is neither, or ``max_connections`` is not at least 1.

    Example:
        >>> client, owned = connect("redis://localhost:6379/0", max_connections=4, timeout=1.0)
        >>> owned
        True
    """
    if isinstance(max_connections, bool) or not isinstance(max_connections, int):
        raise ValidationError("max_connections", "must be at least 1")
    if max_connections < 1:
        raise ValidationError("max_connections", "must be at least 1")
    if isinstance(redis, aioredis.Redis):
        return redis, False
    if not isinstance(redis, str):
        raise ValidationError("redis", "must be a redis:// URL or a redis.asyncio.Redis client")
    try:
        pool = aioredis.BlockingConnectionPool.from_url(
            redis,
            max_connections=max_connections,
            timeout=timeout,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
        )
    except ValueError as exc:  # its text is not repeated: the URL may hold a password
        raise ValidationError("redis", "is not a valid redis://, rediss:// or unix:// URL") from exc
    return aioredis.Redis.from_pool(pool), True  # the pool is closed with the client


def describe(exc: BaseException) -> str:
    """What went wrong talking to the server, for an error message (redis-py's texts name the
    host and port, never a password).

    Example:
        >>> describe(TimeoutError())
        'TimeoutError'
    """
    return f"{type(exc).__name__}: {exc}".rstrip(": ")


def digest(value: str, size: int, person: bytes) -> str:
    """A hex digest naming something in Redis without storing it (an account, a campaign).

    Example:
        >>> len(digest("4930123456", 12, b"d360-limit"))
        24
    """
    return hashlib.blake2b(value.encode(), digest_size=size, person=person).hexdigest()


def positive(name: str, value: float) -> float:
    """``value`` as a float, if it is a positive number.

    Raises:
        ValidationError: It is not.
    """
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValidationError(name, "must be a positive number")
    return float(value)
