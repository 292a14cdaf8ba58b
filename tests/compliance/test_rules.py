"""Every compliance rule: each gap appears, and closes when its record arrives."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest

from lms.compliance import service
from lms.compliance.service import GapCode, pro_rata
from lms.core import settings
from lms.core.actors import DEMO
from lms.core.clock import local_today
from lms.extensions import db
from lms.ledger import service as ledger
from lms.registry import service as registry
from lms.registry.models import Post, PostRequirement, Qualification
from tests.compliance.conftest import hours, make_compliant, qualify, staff_record
from tests.factories import id_number
from tests.helpers import statements_sent


def test_a_new_staff_member_lacks_everything_and_says_what_closes_it(world, check):
    pc = check(world.staff)
    codes = set(pc.gap_codes)
    assert {GapCode.POST_UNCERTIFIED, GapCode.HEALTH_MISSING, GapCode.RECORD_MISSING} <= codes
    assert GapCode.SKILLS_BEHIND in codes and GapCode.ETHICS_BEHIND in codes
    post_gap = next(g for g in pc.gaps if g.code == GapCode.POST_UNCERTIFIED)
    assert post_gap.message == "Nursery teacher (保育师) missing for post Nursery carer."
    ethics = next(g for g in pc.gaps if g.code == GapCode.ETHICS_BEHIND)
    assert ethics.message.startswith("Needs 40 ethics hours this year: 40 to go")
    assert not pc.is_compliant and not pc.banned and not pc.multi_institution


def test_a_person_with_every_record_is_compliant(world, check):
    make_compliant(world.staff, world.inst)
    pc = check(world.staff)
    assert pc.gaps == [] and pc.is_compliant
    assert pc.certified and pc.hours_on_track and pc.health_current and pc.record_on_file


def test_the_post_needs_the_minimum_level(world, check):
    added = registry.add_staff(DEMO, world.inst, id_number=id_number("320102", "19920101", 5),
                               name="李早教", post="early_educator", start_date=date(2025, 1, 1))
    person = added.employment.person
    yuying = qualify(person, "yuyingyuan", level=5).qualification_type
    db.session.add(PostRequirement(post=Post.EARLY_EDUCATOR.value, qualification_type_id=yuying.id,
                                   min_level=4))
    db.session.flush()
    gap = next(g for g in check(person).gaps if g.code == GapCode.POST_UNCERTIFIED)
    assert "Infant carer (育婴员) level 4" in gap.message
    assert gap.message.endswith("missing for post Early-childhood educator.")
    qualify(person, "yuyingyuan", level=4)
    assert GapCode.POST_UNCERTIFIED not in check(person).gap_codes


def test_an_expired_certificate_does_not_count(world, check):
    qualify(world.staff, expires_on=local_today() - timedelta(days=1),
            issued_on=date(2020, 1, 1))
    assert GapCode.POST_UNCERTIFIED in check(world.staff).gap_codes


def test_hours_on_track_pro_rata_at_the_citys_today(world, check):
    """Required × day-of-year / days-in-year, with the city's today (the suite's clock is moved
    to hours when a server in UTC is still on yesterday)."""
    today = local_today()
    expected = pro_rata(Decimal(72), today)
    days = 366 if today.year % 4 == 0 else 365
    assert expected == (Decimal(72) * today.timetuple().tm_yday / days).quantize(Decimal("0.01"))
    pc = check(world.staff)
    assert pc.skills.expected == expected and pc.skills.required == 72
    hours(world.staff, "skills", expected - Decimal("0.01"), "a")
    assert GapCode.SKILLS_BEHIND in check(world.staff).gap_codes
    hours(world.staff, "skills", Decimal("0.01"), "b")
    pc = check(world.staff)
    assert GapCode.SKILLS_BEHIND not in pc.gap_codes and pc.skills.on_track
    assert pc.skills.to_go == Decimal(72) - expected


def test_pro_rata_by_the_day():
    assert pro_rata(Decimal(72), date(2026, 1, 1)) == Decimal("0.20")
    assert pro_rata(Decimal(72), date(2026, 12, 31)) == Decimal("72.00")
    assert pro_rata(Decimal(40), date(2028, 7, 1)) == Decimal("20.00")  # day 183 of 366


def test_the_districts_dated_requirement_applies(world, check):
    settings.set_setting(DEMO, "hours.ethics_required", 20, date(2020, 1, 1),
                         district_id=world.xuanwu.id)
    pc = check(world.staff)
    assert pc.ethics.required == 20
    assert check(world.staff_other).ethics.required == 40


@pytest.mark.parametrize("age_days, state", [(0, "current"), (364, "current"),
                                             (365, "lapsed"), (400, "lapsed")])
def test_a_health_check_lapses_from_the_day_a_year_later(world, check, age_days, state):
    today = local_today()
    issued = today - timedelta(days=age_days)
    staff_record(world.staff, issued_on=issued)
    pc = check(world.staff)
    lapses = service.health_check_lapses_on(pc.health.record)
    assert pc.health.state == ("lapsed" if today >= lapses else "current")
    if age_days in (0, 400):
        assert pc.health.state == state
    assert (GapCode.HEALTH_LAPSED in pc.gap_codes) == (pc.health.state == "lapsed")


def test_a_health_check_on_29_february_lapses_on_1_march(world):
    record = staff_record(world.staff, issued_on=date(2024, 2, 29))
    assert service.health_check_lapses_on(record) == date(2025, 3, 1)


def test_the_latest_health_check_counts_and_unfit_is_a_gap(world, check):
    staff_record(world.staff, issued_on=local_today() - timedelta(days=500))
    staff_record(world.staff, issued_on=local_today() - timedelta(days=10), result="unfit")
    pc = check(world.staff)
    assert pc.health.state == "unfit" and GapCode.HEALTH_UNFIT in pc.gap_codes
    staff_record(world.staff, issued_on=local_today())
    pc = check(world.staff)
    assert pc.health.state == "current" and not {GapCode.HEALTH_UNFIT, GapCode.HEALTH_MISSING,
                                                  GapCode.HEALTH_LAPSED} & set(pc.gap_codes)


def test_a_certificate_of_no_criminal_record_closes_its_gap(world, check):
    assert GapCode.RECORD_MISSING in check(world.staff).gap_codes
    record = staff_record(world.staff, "no_criminal_record", date(2025, 5, 6))
    pc = check(world.staff)
    assert GapCode.RECORD_MISSING not in pc.gap_codes and pc.criminal_record.id == record.id
    assert pc.criminal_record.issued_on == date(2025, 5, 6)


def test_a_banned_person_still_employed_is_flagged_through_the_gate(world, check):
    make_compliant(world.staff, world.inst)
    registry.record_ban(DEMO, id_number=world.staff.id_number, name=world.staff.name,
                        kind="lifetime", starts_on=local_today(), ends_on=None, reason="虐童")
    pc = check(world.staff)
    assert pc.banned and pc.gap_codes == [GapCode.BANNED] and "end the employment" in pc.gaps[0].message


def test_a_full_time_post_at_two_institutions_is_flagged_per_post_rule(world, check):
    make_compliant(world.staff, world.inst)
    registry.add_staff(DEMO, world.inst_other, id_number=world.staff.id_number,
                       name=world.staff.name, post="finance", start_date=date(2025, 1, 1))
    pc = check(world.staff)
    assert pc.multi_posts == [Post.NURSERY_CARER] and pc.institutions == 2
    gap = next(g for g in pc.gaps if g.code == GapCode.MULTI_INSTITUTION)
    assert "Nursery carer may not be held while employed at another institution" in gap.message
    # the rule is a dated per-post setting of the institution's district
    settings.set_setting(DEMO, "compliance.full_time_only.nursery_carer", "no", date(2020, 1, 1),
                         district_id=world.xuanwu.id)
    assert GapCode.MULTI_INSTITUTION not in check(world.staff).gap_codes


def test_two_posts_at_one_institution_are_not_multi_institution(world, check):
    registry.add_staff(DEMO, world.inst, id_number=world.staff.id_number, name=world.staff.name,
                       post="health_care", start_date=date(2025, 1, 1))
    assert GapCode.MULTI_INSTITUTION not in check(world.staff).gap_codes


def test_a_certificate_expiring_soon_warns_without_breaking_compliance(world, check):
    make_compliant(world.staff, world.inst)
    qualify(world.staff, "health_cert", expires_on=local_today() + timedelta(days=30))
    pc = check(world.staff)
    assert pc.gap_codes == [GapCode.CERTIFICATE_EXPIRING] and pc.is_compliant
    assert pc.gaps[0].severity == "warning"
    settings.set_setting(DEMO, "compliance.expiry_warning_days", 10, date(2020, 1, 1))
    assert check(world.staff).gaps == []


def _count_queries(work):
    with statements_sent() as sent:
        work()
    return len(sent)


def test_the_batch_costs_a_fixed_number_of_queries(world):
    people = []
    for n in range(12):
        added = registry.add_staff(DEMO, world.inst, id_number=id_number("320102", "19900101", 10 + n),
                                   name="员工" + "甲乙丙丁戊己庚辛壬癸子丑"[n], post="nursery_carer", start_date=date(2025, 1, 1))
        people.append(added.employment.person)
        qualify(added.employment.person)
        staff_record(added.employment.person)
    db.session.flush()
    service.compliance_for(DEMO, people[:1])  # the post rules and settings, now cached
    few = _count_queries(lambda: service.compliance_for(DEMO, people[:2]))
    many = _count_queries(lambda: service.compliance_for(DEMO, people))
    assert many == few


def test_the_gap_names_type_and_level_in_chinese(world, app):
    """"育婴员 四级" missing for the post, as the issue writes it (the default language)."""
    yuying = qualify(world.staff_other, "yuyingyuan", level=5).qualification_type
    db.session.query(PostRequirement).filter_by(post=Post.INFANT_CARER.value).update(
        {"min_level": 4})
    db.session.flush()
    with app.test_request_context(headers={"Accept-Language": "zh-CN"}):
        from flask_babel import refresh
        refresh()
        gap = next(g for g in service.person_compliance(DEMO, world.staff_other).gaps
                   if g.code == GapCode.POST_UNCERTIFIED)
        assert gap.message == f"岗位{Post.INFANT_CARER.chinese}缺少{yuying.name_zh} 四级。"


def test_plain_data_for_the_api(world, check):
    make_compliant(world.staff, world.inst)
    data = check(world.staff).to_dict()
    assert data["compliant"] is True and data["gaps"] == []
    assert data["posts"][0]["post"] == "nursery_carer" and data["posts"][0]["certified"]
    assert data["health"]["state"] == "current" and data["skills"]["required"] == "72"


def test_the_answer_holds_until_a_lapse_or_an_expiry(world, check):
    make_compliant(world.staff, world.inst)
    today = local_today()
    staff_record(world.staff, issued_on=today - timedelta(days=360))  # the latest check
    record = check(world.staff).health.record
    lapses = service.health_check_lapses_on(record)
    assert check(world.staff).stable_until() == min(lapses, date(today.year + 1, 1, 1))
    # a fresh check, and the nursery-teacher certificate (the post's only one) expiring in 3 days
    staff_record(world.staff, issued_on=today)
    db.session.query(Qualification).filter_by(person_id=world.staff.id).update(
        {"expires_on": today + timedelta(days=3)})
    db.session.flush()
    db.session.expire_all()
    assert check(world.staff).stable_until() == min(today + timedelta(days=4),
                                                    date(today.year + 1, 1, 1))


def test_codes_only_match_the_messages(world):
    """The roll-ups' fast path (no messages) finds the same gaps as the pages."""
    registry.add_staff(DEMO, world.inst_other, id_number=world.staff.id_number,
                       name=world.staff.name, post="finance", start_date=date(2025, 1, 1))
    registry.record_ban(DEMO, id_number=world.staff_other.id_number, name=world.staff_other.name,
                        kind="lifetime", starts_on=local_today(), ends_on=None, reason="虐童")
    qualify(world.staff, "health_cert", expires_on=local_today() + timedelta(days=30))
    staff_record(world.staff, issued_on=local_today() - timedelta(days=400))
    staff_record(world.staff_other, issued_on=local_today(), result="unfit")
    full = service.compliance_for(DEMO, [world.staff, world.staff_other])
    codes = service.compliance_for(DEMO, [world.staff, world.staff_other], messages=False)
    for pid, pc in full.items():
        assert [(g.code, g.severity) for g in pc.gaps] == \
            [(g.code, g.severity) for g in codes[pid].gaps]
        assert all(g.message for g in pc.gaps) and not any(g.message for g in codes[pid].gaps)


def test_the_batch_read_agrees_with_the_registry_and_the_ledger(world):
    """The batch reads every person's rows in two statements, by the registry's and the
    ledger's rules (`_records`): the same answers as their own functions, whatever a person
    has several of (employments, certificates, records of one date, bans)."""
    today = local_today()
    staff, other = world.staff, world.staff_other
    registry.add_staff(DEMO, world.inst_other, id_number=staff.id_number, name=staff.name,
                       post="health_care", start_date=date(2025, 3, 1))
    qualify(staff)
    qualify(staff, "yuyingyuan", level=4, expires_on=today + timedelta(days=20))
    qualify(staff, "health_cert", expires_on=today - timedelta(days=1))  # expired
    qualify(other).revoked_at = datetime(2026, 1, 1)  # revoked
    qualify(other, "health_cert")
    for kind in ("health_check", "no_criminal_record"):
        staff_record(staff, kind, today - timedelta(days=400))
        staff_record(staff, kind, today - timedelta(days=10))
        staff_record(staff, kind, today - timedelta(days=10))  # same date: the later one wins
    staff_record(other, "health_check", today - timedelta(days=3), result="unfit")
    hours(staff, "skills", 12)
    hours(other, "ethics", 3)
    for kind, ends in (("term", today + timedelta(days=30)), ("lifetime", None),
                       ("term", today + timedelta(days=90))):
        registry.record_ban(DEMO, id_number=staff.id_number, name=staff.name, kind=kind,
                            starts_on=today - timedelta(days=5), ends_on=ends, reason="测试")
    registry.record_ban(DEMO, id_number=other.id_number, name=other.name, kind="term",
                        starts_on=today - timedelta(days=5), ends_on=today + timedelta(days=30),
                        reason="测试")
    registry.record_ban(DEMO, id_number=other.id_number, name=other.name, kind="term",
                        starts_on=today - timedelta(days=5), ends_on=today + timedelta(days=60),
                        reason="测试")
    db.session.flush()
    people = [staff, other]
    ids = [p.id for p in people]
    found = service._records(ids, today)
    held = registry.valid_qualifications(ids, today)
    assert {pid: {q.id for q in qs} for pid, qs in found.held.items()} == \
        {pid: {q.id for q in qs} for pid, qs in held.items()}
    assert found.records == registry.latest_staff_records(ids)
    assert found.totals == ledger.totals_for(ids, today.year)
    gate = registry.ban_gate([p.id_number for p in people], today)
    assert {pid: ban.id for pid, ban in found.bans.items()} == \
        {p.id: gate[p.id_number].id for p in people}
    assert found.bans[staff.id].kind == "lifetime"
    assert found.bans[other.id].ends_on == today + timedelta(days=60)
    assert [e.id for e in found.employments[staff.id]] == [e.id for e in sorted(
        staff.employments, key=lambda e: (e.start_date, e.id), reverse=True)]
    assert all(e.organisation.district is not None for e in found.employments[staff.id])
