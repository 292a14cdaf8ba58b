"""Rate limits counted in Redis with one round trip: the same counts, windows and refusals as
limits' own Redis storage. Needs the Redis on 127.0.0.1:6379 (DESIGN §6): fails without it."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
import redis
from limits import parse
from limits.storage import RedisStorage, storage_from_string
from limits.strategies import FixedWindowRateLimiter

from lms.core.ratelimit import CountingRedisStorage, storage_uri

REDIS = "redis://127.0.0.1:6379/15"


@pytest.fixture()
def key_prefix():
    server = redis.Redis.from_url(REDIS, socket_connect_timeout=2)
    server.ping()  # no Redis: fail here, loudly
    prefix = f"lms-test-{uuid.uuid4().hex}"
    yield prefix
    for key in server.scan_iter(f"{prefix}*"):
        server.delete(key)


def test_the_app_counts_redis_limits_through_the_one_round_trip_storage():
    assert storage_uri("redis://127.0.0.1:6379/3") == "lms+redis://127.0.0.1:6379/3"
    assert storage_uri("memory://") == "memory://"
    assert isinstance(storage_from_string(storage_uri(REDIS)), CountingRedisStorage)


def test_counts_windows_and_refusals_match_limits_redis_storage(key_prefix):
    counting = storage_from_string(storage_uri(REDIS), key_prefix=key_prefix)
    plain = RedisStorage(REDIS, key_prefix=key_prefix)  # reads the same keys
    limit = parse("3 per minute")
    ours, theirs = FixedWindowRateLimiter(counting), FixedWindowRateLimiter(plain)
    for n in range(1, 5):
        assert ours.hit(limit, "token-a") is (n <= 3)
        stats, truth = ours.get_window_stats(limit, "token-a"), theirs.get_window_stats(limit, "token-a")
        assert stats.remaining == truth.remaining == max(0, 3 - n)
        assert abs(stats.reset_time - truth.reset_time) <= 1.5 and stats.reset_time > time.time()
    assert not ours.test(limit, "token-a") and ours.test(limit, "token-b")


def test_only_the_reads_right_after_a_count_are_answered_from_it(key_prefix):
    counting = storage_from_string(storage_uri(REDIS), key_prefix=key_prefix)
    server = redis.Redis.from_url(REDIS)
    assert counting.incr("k", 60) == 1
    server.incrby(f"{key_prefix}:k", 5)  # another worker counts meanwhile
    seen = []
    other = threading.Thread(target=lambda: seen.append(counting.get("k")))
    other.start()
    other.join()
    assert seen == [6]  # another thread reads Redis
    assert counting.get("k") == 1  # this thread's headers: the count it just made
    assert counting.get("k") == 6  # once: the next read is Redis's
    assert counting.get("other") == 0
    assert counting.incr("k", 60) == 7 and counting.get_expiry("k") > time.time()
    counting.clear("k")
    assert counting.get("k") == 0
