"""Reference data read on every compliance answer (the dated settings the rules read, the post
rules), kept a short while in each process instead of read again on every request.

Two of the eight statements of a person's compliance read tables that change a few times a
year; at province scale each statement is a round trip, and the person-status API answers other
systems many times a second. `cached(name, key, load)` keeps what `load()` returned for
REFERENCE_CACHE_SECONDS (LMS_REFERENCE_CACHE_SECONDS, default 30; 0 turns it off) in a
cachetools.TTLCache, per database.

Staleness is bounded and local changes are seen at once:
- a write to a watched model (`watch(Setting)`, …) through the session, or an ORM bulk UPDATE or
  DELETE of one, empties this process's cache when it is flushed and again when its transaction
  commits or rolls back (a value read in between, by another request, is thrown away with it);
- while a session holds such an unfinished write, it reads past the cache (its own changes);
- another app server sees the change when its entry expires: at most REFERENCE_CACHE_SECONDS
  later. Settings take effect on a date anyway (they are usually recorded ahead of it).

What is cached must not be changed by its readers (plain values, or ORM objects expunged from
their session with everything the readers use loaded).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable

from cachetools import TTLCache
from flask import current_app
from sqlalchemy import event
from sqlalchemy.orm import Session

from lms.extensions import db

DEFAULT_SECONDS = 30
_FLAG = "lms_reference_written"

_lock = threading.Lock()
_caches: dict[tuple[str, float], TTLCache] = {}
_generation = 0
_watched: tuple[type, ...] = ()


def watch(*models: type) -> None:
    """Writes to these models empty the cache (each package registers its own)."""
    global _watched
    _watched = tuple(dict.fromkeys((*_watched, *models)))


def clear() -> None:
    """Forget everything cached in this process (also for code that wrote past the ORM)."""
    global _generation
    with _lock:
        _generation += 1
        _caches.clear()


def _seconds() -> float:
    return float(current_app.config.get("REFERENCE_CACHE_SECONDS", DEFAULT_SECONDS))


def cached(name: str, key: Hashable, load: Callable[[], object]):
    """`load()`'s value for (name, key) on this app's database, from the cache when fresh."""
    seconds = _seconds()
    if seconds <= 0 or db.session.info.get(_FLAG):
        return load()
    cache_key = (str(db.engine.url), name, key)
    with _lock:
        cache = _caches.get((name, seconds))
        if cache is None:
            cache = _caches[name, seconds] = TTLCache(maxsize=256, ttl=seconds)
        found = cache.get(cache_key, _lock)
        generation = _generation
    if found is not _lock:
        return found
    value = load()
    with _lock:
        # a write flushed or committed while loading: the value may predate it
        if generation == _generation and not db.session.info.get(_FLAG):
            cache[cache_key] = value
    return value


def _touches_watched(objects) -> bool:
    return bool(_watched) and any(isinstance(obj, _watched) for obj in objects)


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, flush_context) -> None:
    if _touches_watched((*session.new, *session.dirty, *session.deleted)):
        session.info[_FLAG] = True
        clear()


@event.listens_for(Session, "do_orm_execute")
def _bulk_write(state) -> None:
    if (state.is_update or state.is_delete) and state.bind_mapper is not None \
            and issubclass(state.bind_mapper.class_, _watched or (type(None),)):
        state.session.info[_FLAG] = True
        clear()


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _ended(session: Session) -> None:
    if session.info.pop(_FLAG, False):
        clear()
