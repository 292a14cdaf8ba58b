"""Settings from the environment. Nothing secret lives in the code."""

import os
import secrets
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

ROOT = Path(__file__).resolve().parent.parent
SUPPORTED_LOCALES = ("zh_Hans_CN", "zh_Hant_TW", "en")


def _bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def instance_path() -> Path:
    return Path(os.environ.get("LMS_INSTANCE_PATH", ROOT / "instance"))


def load_secret_key(folder: Path) -> str:
    """SECRET_KEY from the environment, else one generated once into instance/."""
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    folder.mkdir(parents=True, exist_ok=True)
    key_file = folder / "secret_key"
    if not key_file.exists():
        # O_EXCL: two workers starting together never write two different keys.
        try:
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32))
    return key_file.read_text().strip()


def name_cookies(config: dict) -> None:
    """Over HTTPS (SESSION_COOKIE_SECURE) the session cookie takes the `__Host-` prefix: the
    browser then accepts it only with Secure, Path=/ and no Domain, so no sub-domain can set or
    overwrite it. Decided after the overrides, which may turn Secure off (plain http locally)."""
    name = config.get("SESSION_COOKIE_NAME") or "lms_session"
    bare = name.removeprefix("__Host-")
    if config.get("SESSION_COOKIE_SECURE") and not config.get("SESSION_COOKIE_DOMAIN"):
        config["SESSION_COOKIE_NAME"] = "__Host-" + bare
        config["SESSION_COOKIE_PATH"] = "/"
    else:
        config["SESSION_COOKIE_NAME"] = bare


def _replica_binds(url: str | None) -> dict:
    from lms.core.replica import binds

    return binds(url)


def from_environment() -> dict:
    folder = instance_path()
    folder.mkdir(parents=True, exist_ok=True)
    default_db = f"sqlite:///{folder / 'lms.sqlite3'}"
    locale = os.environ.get("LMS_DEFAULT_LOCALE", "zh_Hans_CN")
    city_zone = os.environ.get("LMS_TIMEZONE", "Asia/Shanghai")
    try:
        ZoneInfo(city_zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise RuntimeError(f"LMS_TIMEZONE is not a known time zone: {city_zone!r}") from None
    if locale not in SUPPORTED_LOCALES:
        raise RuntimeError(f"LMS_DEFAULT_LOCALE must be one of {SUPPORTED_LOCALES}")
    return {
        "SECRET_KEY": load_secret_key(folder),
        "SQLALCHEMY_DATABASE_URI": os.environ.get("DATABASE_URL", default_db),
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        #: a PostgreSQL read replica for the views marked @reads_from_replica (lms.core.replica)
        "SQLALCHEMY_BINDS": _replica_binds(os.environ.get("DATABASE_REPLICA_URL")),
        "BABEL_DEFAULT_LOCALE": locale,
        #: the city's time zone: "today" for every date rule, and how times are shown
        "CITY_TIMEZONE": city_zone,
        "BABEL_DEFAULT_TIMEZONE": city_zone,
        "BABEL_TRANSLATION_DIRECTORIES": str(ROOT / "translations"),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        # Secure by default; `make run` turns it off for plain http on 127.0.0.1.
        "SESSION_COOKIE_SECURE": _bool("LMS_COOKIE_SECURE", True),
        "SESSION_COOKIE_NAME": "lms_session",
        "PERMANENT_SESSION_LIFETIME": 8 * 3600,
        "WTF_CSRF_TIME_LIMIT": 8 * 3600,
        "MAX_CONTENT_LENGTH": 25 * 1024 * 1024,
        "RATELIMIT_STORAGE_URI": os.environ.get("RATELIMIT_STORAGE_URI", "memory://"),
        #: separates two deployments that share one Redis
        "RATELIMIT_KEY_PREFIX": os.environ.get("RATELIMIT_KEY_PREFIX", ""),
        #: while Redis is unreachable each worker counts in memory instead of failing requests
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
        "RATELIMIT_ENABLED": _bool("LMS_RATELIMIT", True),
        "RATELIMIT_HEADERS_ENABLED": True,
        "LOGIN_RATE_LIMIT": os.environ.get("LMS_LOGIN_RATE_LIMIT", "20 per minute"),
        "LOGIN_MAX_FAILURES": 5,
        "LOGIN_LOCK_MINUTES": 15,
        #: the address the public reaches this system at: QR codes on certificates point there
        "PUBLIC_URL": os.environ.get("LMS_PUBLIC_URL", "http://127.0.0.1:5000"),
        #: seconds one PDF render (wkhtmltopdf) may take before it is killed
        "PDF_TIMEOUT_SECONDS": float(os.environ.get("LMS_PDF_TIMEOUT_SECONDS", "30")),
        #: lesson videos (course images live in the database)
        "MEDIA_PATH": os.environ.get("LMS_MEDIA_PATH", str(folder / "media")),
        #: seconds between study heartbeats sent by a lesson page
        "STUDY_HEARTBEAT_SECONDS": int(os.environ.get("LMS_STUDY_HEARTBEAT_SECONDS", "15")),
        #: Redis for the jobs (lms/jobs.py); empty: Redis on 127.0.0.1:6379 if it answers,
        #: else the jobs run inside the web process (LMS_JOBS_EAGER=1 forces that)
        "CELERY_BROKER_URL": os.environ.get("CELERY_BROKER_URL", ""),
        "JOBS_EAGER": _bool("LMS_JOBS_EAGER", False),
        #: a running job with no progress for this long counts as abandoned (its worker died)
        "JOBS_STALE_SECONDS": int(os.environ.get("LMS_JOBS_STALE_SECONDS", "600")),
        #: an Excel export of more rows than this is made by a job (the user gets its progress
        #: page, then a download link); its file is kept this many days
        "EXPORT_JOB_ROWS": int(os.environ.get("LMS_EXPORT_JOB_ROWS", "5000")),
        "EXPORT_KEEP_DAYS": int(os.environ.get("LMS_EXPORT_KEEP_DAYS", "7")),
        #: reverse proxies in front of the app that set X-Forwarded-For/-Proto (0: none, the
        #: headers are ignored, so a client cannot forge its address to dodge a rate limit)
        "PROXIES": int(os.environ.get("LMS_PROXIES", "0")),
        "ROSTER_MAX_ROWS": int(os.environ.get("LMS_ROSTER_MAX_ROWS", "200000")),
        #: post rules and dated settings are kept this long in each process (lms/core/refcache.py):
        #: a change made on one app server reaches the others' answers within it (0: no cache)
        "REFERENCE_CACHE_SECONDS": float(os.environ.get("LMS_REFERENCE_CACHE_SECONDS", "30")),
        #: identity and bank account numbers are encrypted at rest (lms/core/crypto.py): the
        #: data keys newest first (comma-separated), the separate key of the lookup hashes
        "DATA_KEYS": os.environ.get("LMS_DATA_KEYS", ""),
        "LOOKUP_KEY": os.environ.get("LMS_LOOKUP_KEY", ""),
        #: the demo city (`make run`): fixed public keys instead (never for real people)
        "DEMO_KEYS": _bool("LMS_DEMO_KEYS", False),
    }
