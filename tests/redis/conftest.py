"""The real Redis-compatible server fixture (``redis_server``) lives in ``tests/conftest.py``."""

from tests.redis_server import RedisProcess

__all__ = ["RedisProcess"]
