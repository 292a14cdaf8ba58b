"""In-app notifications: packages register the messages they send; texts are translated when
read, so each user reads them in their own language."""

from __future__ import annotations

from sqlalchemy import func, select, update

from lms.core.models import Notification, utcnow
from lms.extensions import db

#: kind -> lazy message with %(name)s placeholders
MESSAGES: dict[str, object] = {}


def message(kind: str, text) -> None:
    MESSAGES[kind] = text


def notify(user_id: int | None, kind: str, link: str = "", **params) -> Notification | None:
    """Queue a message for a user (nothing when the person has no account)."""
    if user_id is None:
        return None
    if kind not in MESSAGES:
        raise KeyError(kind)
    note = Notification(user_id=user_id, kind=kind, params={k: str(v) for k, v in params.items()},
                        link=link[:200])
    db.session.add(note)
    return note


def text_of(note: Notification) -> str:
    template = MESSAGES.get(note.kind)
    if template is None:
        return note.kind
    return str(template) % note.params if note.params else str(template)


def unread_count(user_id: int) -> int:
    return db.session.scalar(select(func.count()).select_from(Notification).where(
        Notification.user_id == user_id, Notification.read_at.is_(None))) or 0


def latest(user_id: int, limit: int = 50) -> list[Notification]:
    return list(db.session.scalars(select(Notification).where(Notification.user_id == user_id)
                                   .order_by(Notification.id.desc()).limit(limit)))


def mark_all_read(user_id: int) -> None:
    db.session.execute(update(Notification).where(
        Notification.user_id == user_id, Notification.read_at.is_(None)).values(read_at=utcnow()))
