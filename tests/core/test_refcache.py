"""The reference cache (post rules and the dated settings the compliance rules read): a change
made in this process is seen at once, a rolled-back one never, and one made elsewhere (another
app server, written past this process's ORM) within REFERENCE_CACHE_SECONDS."""

from __future__ import annotations

import time
from datetime import date

from sqlalchemy import delete, insert, select

from lms.core.clock import local_today
from lms.core.models import Setting
from lms.core.settings import SettingsOn, set_setting
from lms.extensions import db
from lms.registry import service as registry
from lms.registry.models import Post, PostRequirement, QualificationType

WARN = "compliance.expiry_warning_days"


def _warning_days() -> int:
    """As the compliance rules read it: one SettingsOn per answer."""
    return int(SettingsOn(("compliance.",), local_today()).get(WARN, None))


def _insert_past_the_orm(value: str) -> None:
    """A setting written as another app server would: this process's ORM never sees it."""
    db.session.execute(insert(Setting).values(key=WARN, district_id=None, value=value,
                                              effective_from=date(2020, 1, 1), note=""))


def _rules_for(post: Post) -> set[int]:
    return {r.qualification_type_id for r in registry._requirements().get(post.value, [])}


def test_a_setting_recorded_here_is_read_at_once(world):
    assert _warning_days() == 90  # the default, now cached
    set_setting(world.users["admin"], WARN, "30", date(2020, 1, 1))
    assert _warning_days() == 30  # the writing transaction reads past the cache
    db.session.commit()
    assert _warning_days() == 30


def test_a_rolled_back_setting_does_not_stay_in_the_cache(world):
    assert _warning_days() == 90
    set_setting(world.users["admin"], WARN, "30", date(2020, 1, 1))
    assert _warning_days() == 30
    db.session.rollback()
    assert _warning_days() == 90


def test_a_bulk_delete_of_settings_is_seen_at_once(world):
    set_setting(world.users["admin"], WARN, "30", date(2020, 1, 1))
    db.session.commit()
    assert _warning_days() == 30
    db.session.execute(delete(Setting).where(Setting.key == WARN))
    assert _warning_days() == 90
    db.session.commit()
    assert _warning_days() == 90


def test_a_change_made_by_another_server_arrives_within_the_cache_time(world, app, monkeypatch):
    monkeypatch.setitem(app.config, "REFERENCE_CACHE_SECONDS", 0.5)
    assert _warning_days() == 90
    # another app server's write: this process's ORM never sees it
    _insert_past_the_orm("7")
    db.session.commit()
    assert _warning_days() == 90  # still the cached value, for at most half a second
    time.sleep(0.6)
    assert _warning_days() == 7


def test_no_cache_when_the_time_is_zero(world, app, monkeypatch):
    monkeypatch.setitem(app.config, "REFERENCE_CACHE_SECONDS", 0)
    assert _warning_days() == 90
    _insert_past_the_orm("7")
    assert _warning_days() == 7


def test_a_post_rule_added_here_counts_at_once_and_leaves_the_session_alone(world):
    post = Post.EARLY_EDUCATOR
    before = _rules_for(post)
    qtype = next(t for t in db.session.scalars(select(QualificationType).order_by(QualificationType.id))
                 if t.id not in before)
    registry.add_post_requirement(world.users["admin"], post, qtype,
                                  1 if qtype.has_levels else None)
    assert _rules_for(post) == before | {qtype.id}
    db.session.commit()
    assert _rules_for(post) == before | {qtype.id}
    # the cached rules are detached copies: the request's own instances stay in its session
    req = db.session.scalar(select(PostRequirement).where(
        PostRequirement.post == post.value, PostRequirement.qualification_type_id == qtype.id))
    assert req in db.session and req.qualification_type in db.session
    cached = next(r for r in registry._requirements()[post.value] if r.qualification_type_id == qtype.id)
    assert cached is not req and cached.qualification_type.name_zh == qtype.name_zh
