"""An institution's staff table served from the summary rows: the same answer as the rules give
from the records, on every day, and never a row that no longer holds (a write since, a day
passed on which it may change, another rule, a ban starting)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from lms.compliance import rollups, service
from lms.compliance.models import PersonStatus
from lms.core import settings
from lms.core.actors import DEMO
from lms.core.clock import local_today
from lms.extensions import db
from lms.registry import service as registry
from lms.registry.models import QualificationType
from tests.compliance.conftest import hours, qualify, reference_gaps, staff_record
from tests.factories import id_number
from tests.helpers import statements_sent


def _table(org, on=None):
    rows = service.staff_compliance(DEMO, org, on)
    service.with_messages(rows)
    return {pc.person.id: [(g.code, g.severity, g.message) for g in pc.gaps] for pc in rows}


@pytest.fixture()
def served(every_gap, world):
    """every_gap's people, one more with a term ban and one whose certificate enters its expiry
    warning in 100 days; refreshed, so every row is kept."""
    today = local_today()
    term = registry.add_staff(DEMO, world.inst, id_number=id_number("320102", "19900101", 61),
                              name="己期", post="nursery_carer", start_date=date(2025, 1, 1)
                              ).employment.person
    hours(term, "skills", 30)
    registry.record_ban(DEMO, id_number=term.id_number, name=term.name, kind="term",
                        starts_on=today - timedelta(days=10), ends_on=today + timedelta(days=20),
                        reason="体罚")
    later = registry.add_staff(DEMO, world.inst, id_number=id_number("320102", "19900101", 62),
                               name="庚远", post="nursery_carer", start_date=date(2025, 1, 1)
                               ).employment.person
    qualify(later, "health_cert", expires_on=today + timedelta(days=190))
    rollups.refresh(DEMO)
    assert all(s.facts is not None for s in db.session.scalars(select(PersonStatus)))
    return every_gap


def test_the_served_table_is_the_rules_answer_on_every_day(served):
    today = local_today()
    service.staff_compliance(DEMO, served)  # the reference cache warm
    with statements_sent() as sent:
        now = _table(served)
    assert len(sent) == 1  # everyone from their summary row, in one statement
    assert now == reference_gaps(served)
    # later days: rows that hold are served, the others computed; always the rules' answer
    for days in (1, 19, 20, 21, 29, 30, 31, 99, 100, 101, 200, 365):
        on = today + timedelta(days=days)
        assert _table(served, on) == reference_gaps(served, on), on


def test_a_write_since_the_refresh_is_seen_at_once(served, world):
    service.staff_compliance(DEMO, served)
    # the person with nothing on file gets a health check: their row is dirty, computed now
    person = next(pc.person for pc in service.staff_compliance(DEMO, served)
                  if pc.person.name == "戊新")
    assert "health_missing" in [c for c, _s, _m in _table(served)[person.id]]
    staff_record(person, issued_on=local_today(), org=served)
    now = _table(served)
    assert "health_missing" not in [c for c, _s, _m in now[person.id]]
    assert now == reference_gaps(served)


def test_another_rule_is_applied_at_once(served, world):
    today = local_today()
    settings.set_setting(DEMO, "hours.ethics_required", 4, today, district_id=world.inst.district_id)
    assert _table(served) == reference_gaps(served)
    # a rule taking effect on a later day: served until then, then the new rule's answer
    settings.set_setting(DEMO, "registry.health_check_valid_months", 1, today + timedelta(days=3))
    rollups.refresh(DEMO, full=True)
    for days in (0, 2, 3, 4):
        on = today + timedelta(days=days)
        assert _table(served, on) == reference_gaps(served, on), on
    # a post rule: the level-free 育婴员 no longer satisfies 保育员 (the rules' answer changes)
    qtype = db.session.scalar(select(QualificationType).where(QualificationType.code == "yuyingyuan"))
    before = _table(served)
    registry.add_post_requirement(DEMO, "nursery_carer", qtype, 5)
    assert _table(served) == reference_gaps(served)
    for rule in registry.post_rules()["nursery_carer"]:
        if rule.qualification_type_id != qtype.id:
            registry.remove_post_requirement(DEMO, db.session.merge(rule))
    after = _table(served)
    assert after == reference_gaps(served) and after != before


def test_a_ban_starting_after_the_refresh_is_seen_on_its_day(served, world):
    today = local_today()
    person = next(pc.person for pc in service.staff_compliance(DEMO, served)
                  if pc.person.name == "庚远")
    registry.record_ban(DEMO, id_number=person.id_number, name=person.name, kind="lifetime",
                        starts_on=today + timedelta(days=5), ends_on=None, reason="虐童")
    rollups.refresh(DEMO)  # the person recomputed today: not banned yet
    assert "banned" not in [c for c, _s, _m in _table(served)[person.id]]
    on = today + timedelta(days=5)
    assert "banned" in [c for c, _s, _m in _table(served, on)[person.id]]
    assert _table(served, on) == reference_gaps(served, on)


def test_the_institution_page_serves_the_same_table(served, client, login_as):
    db.session.commit()
    login_as("regulator_city")
    page = client.get(f"/compliance/institutions/{served.id}?gap=health_lapsed").get_data(as_text=True)
    want = reference_gaps(served)
    lapsed = [pid for pid, gaps in want.items() if "health_lapsed" in [c for c, _s, _m in gaps]]
    assert len(lapsed) == 1
    message = next(m for c, _s, m in want[lapsed[0]] if c == "health_lapsed")
    assert message in page and 'id="row-count">1 ' in page


@pytest.mark.parametrize(("language", "words"), [("zh-CN", ("本年度需职业道德学时 40", "还差 40")),
                                                 ("zh-TW", ("本年度需職業道德學時 40", "還差 40")),
                                                 ("en", ("Needs 40 ethics hours", "to go"))])
def test_the_served_messages_are_in_the_readers_language(served, app, language, words):
    from flask_babel import refresh

    with app.test_request_context(headers={"Accept-Language": language}):
        refresh()
        messages = [m for gaps in _table(served).values() for c, _s, m in gaps
                    if c == "ethics_behind"]
        assert messages and all(all(w in m for w in words) for m in messages), messages
        assert _table(served) == reference_gaps(served)
