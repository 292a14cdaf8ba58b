"""Rate limits counted in Redis with one round trip per request.

Flask-Limiter counts a request (`incr`) and then, for the X-RateLimit-* and Retry-After
headers, reads the window back (`get` and `get_expiry`): three round trips to Redis on every
limited request (most of the JSON API's overhead over its service). This storage counts and
reads the window's time to live in one Lua script and answers the `get` and `get_expiry` of
the key it has just counted, in the same thread, from that answer (at most once each, within
a second): the same numbers Redis would give, one round trip instead of three.

The app uses it for a `redis://` or `rediss://` RATELIMIT_STORAGE_URI (lms.config rewrites the
scheme to `lms+redis://`); every other storage is Flask-Limiter's own.
"""

from __future__ import annotations

import threading
import time

from limits.storage import RedisStorage

#: how long a count answers the reads that follow it (a request's headers come right after)
FRESH_SECONDS = 1.0


class CountingRedisStorage(RedisStorage):
    STORAGE_SCHEME = ["lms+redis", "lms+rediss"]

    #: limits' incr_expire.lua, also returning the key's time to live
    SCRIPT_INCR_EXPIRE_TTL = """
local amount = tonumber(ARGV[2])
local current = redis.call("incrby", KEYS[1], amount)
if tonumber(current) == amount then
    redis.call("expire", KEYS[1], ARGV[1])
end
return {current, redis.call("ttl", KEYS[1])}
"""

    def __init__(self, uri: str, **options):
        super().__init__(uri.removeprefix("lms+"), **options)
        self._last = threading.local()

    def initialize_storage(self, uri: str) -> None:
        super().initialize_storage(uri)
        self.lua_incr_expire_ttl = self.get_connection().register_script(
            self.SCRIPT_INCR_EXPIRE_TTL)

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        current, ttl = self.lua_incr_expire_ttl([self.prefixed_key(key)], [expiry, amount])
        # [key, count, expiry, when counted, reads left: get and get_expiry]
        self._last.window = [key, int(current), max(int(ttl), 0) + time.time(),
                             time.monotonic(), {"get", "get_expiry"}]
        return int(current)

    def _counted(self, key: str, read: str):
        last = getattr(self._last, "window", None)
        if (last is None or last[0] != key or read not in last[4]
                or time.monotonic() - last[3] > FRESH_SECONDS):
            return None
        last[4].discard(read)
        return last

    def get(self, key: str) -> int:
        last = self._counted(key, "get")
        return last[1] if last else super().get(key)

    def get_expiry(self, key: str) -> float:
        last = self._counted(key, "get_expiry")
        return last[2] if last else super().get_expiry(key)

    def clear(self, key: str) -> None:
        self._last.window = None
        super().clear(key)

    def reset(self) -> int | None:
        self._last.window = None
        return super().reset()


def storage_uri(uri: str) -> str:
    """The storage for a configured RATELIMIT_STORAGE_URI: Redis through CountingRedisStorage."""
    if uri.startswith(("redis://", "rediss://")):
        return f"lms+{uri}"
    return uri
