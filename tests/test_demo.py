"""The demo city (lms.demo): deterministic, valid data, built once through the services."""

from collections import Counter
from datetime import date

import pytest

from lms.core.actors import DEMO
from lms.core.clock import local_today
from lms.core.idnumber import (
    id_facts,
    normalise_credit_code,
    normalise_id_number,
    normalise_mobile,
    normalise_name,
)
from lms.demo import PASSWORD, make_credit_code, make_id_number, org_code, plan_city
from lms.registry.models import OrgKind, Post

TODAY = date(2026, 11, 23)


@pytest.fixture(scope="module")
def plan():
    return plan_city(TODAY)


# --- identifiers -----------------------------------------------------------------------------


def test_make_id_number_matches_the_standard_example():
    # GB 11643's own example: 11010519491231002X
    assert make_id_number("110105", date(1949, 12, 31), 2) == "11010519491231002X"


def test_org_and_credit_codes_match_a_known_code():
    assert org_code("60003734") == "600037341"
    assert make_credit_code("91", "110000", "60003734") == "91110000600037341L"


# --- the plan: pure data, no database ---------------------------------------------------------


def test_plan_is_the_same_every_time(plan):
    again = plan_city(TODAY)
    assert again.persons == plan.persons
    assert again.orgs == plan.orgs
    assert again.jobs == plan.jobs
    assert again.quals == plan.quals
    assert again.ban == plan.ban


def test_people_do_not_depend_on_the_date(plan):
    earlier = plan_city(date(2025, 3, 1))
    assert [p.id_number for p in earlier.persons] == [p.id_number for p in plan.persons]
    assert [p.mobile for p in earlier.persons] == [p.mobile for p in plan.persons]
    assert [o.credit_code for o in earlier.orgs] == [o.credit_code for o in plan.orgs]


def test_identity_numbers_are_valid_and_unique(plan):
    numbers = [p.id_number for p in plan.persons]
    assert len(plan.persons) >= 550
    assert len(set(numbers)) == len(numbers)
    allowed_regions = {"320102", "320104", "320106"}
    for person in plan.persons:
        assert normalise_id_number(person.id_number) == person.id_number
        facts = id_facts(person.id_number)
        assert facts.birth_date == person.birth_date
        assert 1968 <= facts.birth_date.year <= 2004
        assert (facts.gender == "female") == person.female
        assert facts.province in {"江苏省", "安徽省", "新疆维吾尔自治区"}
    # most come from the three districts themselves
    local = sum(p.id_number[:6] in allowed_regions for p in plan.persons)
    assert local > len(plan.persons) / 3


def test_workforce_is_mostly_women(plan):
    women = sum(p.female for p in plan.persons)
    assert 0.85 <= women / len(plan.persons) <= 0.95


def test_names_are_valid_and_varied(plan):
    for person in plan.persons:
        assert normalise_name(person.name) == person.name
        assert 2 <= len(person.name) <= 12
    assert any("·" in p.name for p in plan.persons)
    assert len({p.name for p in plan.persons}) > len(plan.persons) * 0.8


def test_mobiles_are_valid_and_unique(plan):
    mobiles = [p.mobile for p in plan.persons]
    assert len(set(mobiles)) == len(mobiles)
    for mobile in mobiles:
        assert normalise_mobile(mobile) == mobile


def test_organisations(plan):
    kinds = Counter(o.kind for o in plan.orgs)
    assert kinds == {OrgKind.INSTITUTION: 30, OrgKind.TRAINING_BASE: 3, OrgKind.HR_BUREAU: 1,
                     OrgKind.HEALTH_COMMISSION: 1}
    codes = [o.credit_code for o in plan.orgs]
    assert len(set(codes)) == len(codes)
    for org in plan.orgs:
        assert normalise_credit_code(org.credit_code) == org.credit_code
    institutions = [plan.orgs[i] for i in plan.orgs_of(OrgKind.INSTITUTION)]
    filings = [o.filing_no for o in institutions]
    assert all(filings) and len(set(filings)) == len(filings)
    assert len({o.name for o in plan.orgs}) == len(plan.orgs)
    assert Counter(o.district_code for o in institutions) == {
        "320102": 10, "320104": 10, "320106": 10}
    assert institutions[0].name == "南京市玄武区小橡树托育中心"
    for org in institutions:
        district = {"320102": "玄武区", "320104": "秦淮区", "320106": "鼓楼区"}[org.district_code]
        assert org.address.startswith(f"南京市{district}")
        assert org.credit_code[2:8] == org.district_code


def test_staffing(plan):
    current = [j for j in plan.jobs if j.end is None]
    per_org = Counter(j.org for j in current)
    assert len(per_org) == 30
    assert all(15 <= n <= 23 for n in per_org.values())
    directors = Counter(j.org for j in current if j.post == Post.DIRECTOR)
    assert set(directors.values()) == {1}
    # one current post per person, and history for some
    assert len({j.person for j in current}) == len(current)
    ended = [j for j in plan.jobs if j.end is not None]
    assert 20 <= len(ended) <= 100
    movers = {j.person for j in ended} & {j.person for j in current}
    assert len(movers) >= 5
    for job in plan.jobs:
        born = plan.persons[job.person].birth_date
        assert job.start < TODAY
        assert job.start.year - born.year >= 18
        assert job.end is None or job.start <= job.end < TODAY


def test_some_institutions_comply_and_some_do_not(plan):
    current = [j for j in plan.jobs if j.end is None]
    share = len(plan.noncompliant) / len(current)
    assert 0.08 <= share <= 0.16
    gaps = Counter(j.org for j in current if j.person in plan.noncompliant)
    assert sum(1 for org in range(30) if gaps[org] == 0) >= 8
    assert max(gaps.values()) >= 5
    assert plan.caregiver not in plan.noncompliant


def test_the_banned_person_no_longer_works(plan):
    ban = plan.ban
    banned = plan.persons[ban.person]
    assert banned.id_number.endswith("X")
    assert normalise_id_number(banned.id_number.lower()) == banned.id_number
    jobs = [j for j in plan.jobs if j.person == ban.person]
    assert jobs and all(j.end is not None and j.end < ban.starts_on for j in jobs)
    assert ban.starts_on <= TODAY


def test_demo_password_meets_the_policy():
    from lms.auth.service import check_password_policy

    check_password_policy(PASSWORD)


# --- building it through the services (database) --------------------------------------------


def _counts() -> dict[str, int]:
    from sqlalchemy import func, select

    from lms.extensions import db

    return {table.name: db.session.scalar(select(func.count()).select_from(table))
            for table in db.metadata.sorted_tables}


def test_build_demo_city_once(app):
    from sqlalchemy import func, select

    from lms.auth import service as auth_service
    from lms.auth.models import Role, User
    from lms.core.models import District
    from lms.demo import build_demo_city
    from lms.extensions import db
    from lms.registry import service as registry
    from lms.registry.models import Employment, Organisation, Person

    summary = build_demo_city()
    db.session.commit()
    assert summary["created"] is True

    districts = db.session.scalars(select(District).order_by(District.code)).all()
    assert [(d.code, d.name, d.city) for d in districts] == [
        ("320102", "玄武区", "南京市"), ("320104", "秦淮区", "南京市"), ("320106", "鼓楼区", "南京市")]
    orgs = db.session.scalars(select(Organisation)).all()
    kinds = Counter(o.kind for o in orgs)
    assert kinds == {"institution": 30, "training_base": 3, "hr_bureau": 1,
                     "health_commission": 1}
    assert summary["institutions"] == 30 and summary["bases"] == 3

    persons = db.session.scalars(select(Person)).all()
    assert len(persons) == summary["persons"] >= 550
    for person in persons:
        assert normalise_id_number(person.id_number) == person.id_number
    employments = db.session.scalars(select(Employment)).all()
    assert len(employments) == summary["employments"]
    assert any(e.end_date is not None for e in employments)

    # the ban: in force, found by the gate (also when typed with a lower-case x), and
    # the person holds no current post
    banned = summary["banned_id_number"]
    assert banned.endswith("X")
    gate = registry.ban_gate([banned])
    assert gate[banned].kind == "lifetime"
    assert registry.find_person(banned.lower()) is not None
    assert all(e.end_date is not None for e in registry.find_person(banned).employments)
    with pytest.raises(registry.BannedError):
        registry.add_staff(DEMO, next(o for o in orgs if o.kind == "institution"),
                           id_number=banned.lower(), name=summary["banned_name"],
                           post="nursery_carer", start_date=local_today())
    db.session.rollback()

    # compliance: some institutions fully compliant, some clearly not
    failing = Counter()
    staffed = Counter()
    current = [e for e in employments if e.end_date is None]
    for employment_id, check in registry.check_posts(current).items():
        employment = db.session.get(Employment, employment_id)
        staffed[employment.organisation_id] += 1
        failing[employment.organisation_id] += not check.satisfied
    assert sum(failing.values()) == summary["noncompliant_staff"]
    assert any(failing[org] >= 3 for org in staffed)
    assert sum(1 for org in staffed if failing[org] == 0) >= 5
    gulou_first = db.session.scalar(select(Organisation).where(Organisation.name == "鼓楼区童心托育园"))
    assert failing[gulou_first.id] == 0

    # each institution's current staff are managed directly by its current 专职负责人 (what a
    # child-abuse ban lists)
    institutions = {o.id for o in orgs if o.kind == "institution"}
    managed = 0
    for employment in current:
        if employment.organisation_id not in institutions or employment.post == "director":
            continue
        manager = registry.direct_manager_on(employment, local_today())
        director = next((e for e in current if e.organisation_id == employment.organisation_id
                         and e.post == "director"), None)
        if director is None or director.person_id == employment.person_id:
            assert manager is None
            continue
        assert manager is not None and manager.post == "director"
        assert manager.organisation_id == employment.organisation_id
        managed += 1
    assert managed > 300

    # every demo login works with the published password
    for username in ("admin", "inst_admin", "inst_admin2", "base_staff", "hr_reviewer",
                     "regulator", "regulator_city"):
        assert auth_service.authenticate(username, PASSWORD).username == username
    inst_admin = db.session.scalar(select(User).where(User.username == "inst_admin"))
    assert db.session.get(Organisation, inst_admin.organisation_id).name == "南京市玄武区小橡树托育中心"
    regulator = db.session.scalar(select(User).where(User.username == "regulator"))
    assert db.session.get(District, regulator.district_id).code == "320102"
    caregiver = auth_service.authenticate(summary["caregiver_mobile"], PASSWORD)
    assert caregiver.role == Role.CAREGIVER.value and not caregiver.must_change_password
    db.session.commit()

    # class hours: the courses, the caregiver's online study, the platform records; the
    # kept totals equal the entries
    from lms.catalog.service import active_courses
    from lms.ledger import service as ledger
    from lms.ledger.models import LedgerEntry
    assert {c.code for c in active_courses()} >= {"YY-101", "BY-101", "BJ-101", "GL-101", "DD-101"}
    mine = ledger.entries_for(db.session.get(Person, caregiver.person_id))
    assert sorted(e.source_type for e in mine) == ["lesson", "lesson", "lesson", "session"]
    assert {e.category for e in mine} == {"skills", "ethics"}
    assert all(e.created_at.date() < local_today() for e in mine)  # studied on earlier days
    external = db.session.scalar(select(func.count()).select_from(LedgerEntry).where(
        LedgerEntry.source_type == "external"))
    assert external == summary["external_hours_records"] > 300
    assert ledger.verify() == []
    # the first base's timetable: a past session (attended, credited) and the coming weeks
    from lms.scheduling.models import Booking, TrainingSession
    sessions = db.session.scalars(select(TrainingSession)).all()
    assert len(sessions) == summary["sessions"] == 8
    assert sorted(s.status for s in sessions).count("closed") == 1
    assert db.session.scalar(select(func.count()).select_from(Booking).where(
        Booking.person_id == caregiver.person_id)) == 2
    # a 育婴员 sitting next week with the demo caregiver registered; last month's sitting
    # left three certificates, valid on the public page
    from lms.certificates import service as certificates
    from lms.certificates.models import Certificate
    from lms.exams.models import Registration
    assert summary["exam_sittings"] == 2 and summary["certificates"] == 3
    assert db.session.scalar(select(Registration.id).where(
        Registration.person_id == caregiver.person_id)) is not None
    issued = db.session.scalars(select(Certificate)).all()
    assert len(issued) == 3 and {certificates.state(c) for c in issued} == {"valid"}
    # their base claimed for two (the third holds a higher level already): one approved and in
    # the public notice, one awaiting HR
    from lms.subsidies.models import SubsidyClaim
    claims = db.session.scalars(select(SubsidyClaim).order_by(SubsidyClaim.id)).all()
    assert summary["subsidy_claims"] == 2
    assert [c.state for c in claims] == ["published", "confirmed"]
    assert [str(c.amount) for c in claims] == ["1000.00", "1000.00"]

    # a second run changes nothing
    before = _counts()
    assert build_demo_city() == {"created": False}
    db.session.commit()
    assert _counts() == before
    # nor does the command `make run` calls every time
    result = app.test_cli_runner().invoke(args=["lms", "demo"])
    assert result.exit_code == 0 and "nothing changed" in result.output
    assert _counts() == before


def test_build_demo_city_reuses_districts_and_leaves_taken_names(app):
    from sqlalchemy import func, select

    from lms.auth.models import User
    from lms.core.models import District
    from lms.demo import build_demo_city
    from lms.extensions import db

    db.session.add(District(code="320102", name="玄武区", city="南京市"))
    db.session.add(User(username="admin", display_name="已有管理员", role="admin"))
    db.session.commit()

    summary = build_demo_city()
    db.session.commit()
    assert summary["created"] is True
    assert db.session.scalar(select(func.count()).select_from(District)) == 3
    admin = db.session.scalar(select(User).where(User.username == "admin"))
    assert admin.display_name == "已有管理员" and admin.password_hash is None
    assert db.session.scalar(select(User).where(User.username == "inst_admin2")) is not None
