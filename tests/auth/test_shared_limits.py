"""With RATELIMIT_STORAGE_URI pointing at Redis, every app instance counts against the same
limits. Needs the Redis on 127.0.0.1:6379 that development and CI machines run (DESIGN §6):
without it this test fails, it does not skip."""

import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import redis

from tests.conftest import database_url

REDIS = "redis://127.0.0.1:6379/15"
ROOT = Path(__file__).resolve().parents[2]

#: one app instance in its own process (the Limiter is one object per process): a few
#: failed sign-ins from the same address, printing the status codes
INSTANCE = textwrap.dedent("""
    import sys
    from tests.conftest import login, make_app
    storage, prefix, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    app = make_app(RATELIMIT_STORAGE_URI=storage, RATELIMIT_KEY_PREFIX=prefix,
                   LOGIN_RATE_LIMIT="3 per minute")
    client = app.test_client()
    print(",".join(str(login(client, f"nobody{i}", "wrong-password").status_code)
                   for i in range(count)))
""")


def _instance(storage: str, prefix: str, count: int) -> str:
    env = {**os.environ, "DATABASE_URL": database_url(), "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", INSTANCE, storage, prefix, str(count)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()[-1]


def test_two_app_instances_share_one_login_limit(world):
    server = redis.Redis.from_url(REDIS, socket_connect_timeout=2)
    server.ping()  # no Redis on 127.0.0.1:6379: fail here, loudly
    prefix = f"lms-test-{uuid.uuid4().hex}"
    try:
        assert _instance(REDIS, prefix, 2) == "200,200"
        assert _instance(REDIS, prefix, 2) == "200,429"  # the third attempt of the minute
        assert list(server.scan_iter(f"*{prefix}*")), "the counts live in Redis"
    finally:
        for key in server.scan_iter(f"*{prefix}*"):
            server.delete(key)
    assert not list(server.scan_iter(f"*{prefix}*"))


def test_sign_in_still_answers_while_redis_is_unreachable(world):
    """Nothing listens on port 1: each instance counts in memory meanwhile, no 500."""
    assert _instance("redis://127.0.0.1:1/0", f"lms-test-{uuid.uuid4().hex}", 4) == (
        "200,200,200,429")
