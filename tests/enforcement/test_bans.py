"""Bans, the regulator's side: every effect of a ban at once, the direct managers, term expiry,
four eyes, the transition tables, re-screening and its alerts, scope and bad input."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select, update

from lms.certificates.models import Authority
from lms.core.actors import DEMO, system_actor
from lms.core.clock import local_today
from lms.core.errors import DomainError, PermissionDenied
from lms.core.idnumber import IdNumberError
from lms.core.models import Notification
from lms.core.states import ActionNotPossible, InvalidTransition
from lms.enforcement import service
from lms.enforcement.models import BanAlert
from lms.exams import service as exams
from lms.extensions import db
from lms.learning import service as learning
from lms.learning.models import Enrolment
from lms.registry import service as registry
from lms.registry.models import (
    Ban,
    BanAction,
    BanLiftRequest,
    BanState,
    Employment,
    LiftRequestAction,
    LiftRequestState,
)
from lms.scheduling.models import Booking
from lms.subsidies.models import SubsidyClaim
from tests.access import _session_world
from tests.conftest import import_test_course
from tests.factories import id_number
from tests.helpers import certificate, claim_for, exam_sitting

PDF = b"%PDF-1.4 decision 2026-1"
JOB = system_actor("job:test")


def decide(person_or_number, **kw):
    """An impose form as a regulator fills it (child abuse, lifetime, incident three days ago)."""
    number = getattr(person_or_number, "id_number", person_or_number)
    name = getattr(person_or_number, "name", "无名氏")
    return {"id_number": number, "name": name, "kind": "lifetime", "ends_on": None,
            "category": "child_abuse", "authority": "玄武区卫生健康委员会",
            "decision_no": "玄卫禁〔2026〕1号", "decision_date": local_today(),
            "incident_date": local_today() - timedelta(days=3), "reason": "虐待幼儿",
            "evidence": PDF, "evidence_name": "决定书.pdf", **kw}


def impose(world, who="regulator", target=None, **kw):
    return service.impose_ban(world.users[who], **decide(target or world.staff, **kw))


def notes_of(user) -> list[Notification]:
    return list(db.session.scalars(select(Notification).where(Notification.user_id == user.id,
                                                              Notification.kind.like("enforcement.%"))))


def staff(world, org, name, post="nursery_carer", seq=20, start=date(2022, 1, 1), **kw):
    added = registry.add_staff(DEMO, org, id_number=id_number("320102", "19850101", seq), name=name,
                               post=post, start_date=start, **kw)
    return added.employment.person


def bans_count() -> int:
    return db.session.scalar(select(func.count(Ban.id)))


# --- every effect, at once ------------------------------------------------------------------------


def test_a_ban_takes_every_effect_at_once(world, client):
    person = world.staff
    course = import_test_course()
    sitting = exam_sitting(world)
    course.is_active = False  # the sitting's course requirement is not what this test is about
    registration = exams.register(world.users["base_staff"], sitting, person)
    course.is_active = True
    learning.enrol(world.users["caregiver"], person, course)
    _session, booking = _session_world(world, course)
    cert = certificate(world, person)
    unpaid = claim_for(world, cert)
    paid_cert = certificate(world, person, code="yuyingyuan")
    paid = claim_for(world, paid_cert)
    db.session.execute(update(SubsidyClaim).where(SubsidyClaim.id == paid.id).values(state="paid"))
    db.session.commit()

    bans = impose(world)
    db.session.commit()

    assert [b.id_number for b in bans] == [person.id_number]
    assert person.id_number in registry.ban_gate([person.id_number])
    employment = db.session.scalar(select(Employment).where(Employment.person_id == person.id))
    assert employment.state == "ended" and employment.end_date == local_today()
    assert "虐待幼儿" in employment.end_reason and "玄卫禁〔2026〕1号" in employment.end_reason
    db.session.refresh(cert)
    assert cert.status == "suspended" and cert.status_authority == Authority.REGULATOR.value
    page = client.get(f"/verify/{cert.verify_code}", headers={"Accept-Language": "en"})
    assert 'id="verdict"' in page.text and "Suspended" in page.text.split('id="verdict"')[1][:300]
    enrolment = db.session.scalar(select(Enrolment).where(Enrolment.person_id == person.id))
    assert enrolment.cancelled_at is not None and learning.my_enrolments(person) == []
    assert db.session.get(Booking, booking.id).status == "cancelled"
    db.session.refresh(registration)
    assert registration.state == "withdrawn"
    db.session.refresh(unpaid)
    db.session.refresh(paid)
    assert unpaid.state == "rejected" and "虐待幼儿" in unpaid.rejected_reason
    assert paid.state == "paid"
    # the institution and the regulators of the district where the person worked are told
    assert len(notes_of(world.users["inst_admin"])) == 1
    assert len(notes_of(world.users["regulator"])) == 1
    assert notes_of(world.users["inst_admin_other"]) == [] and notes_of(world.users["regulator_other"]) == []


def test_a_bans_effects_applied_again_change_nothing(world):
    """The fan-out is one person's rows (it runs in the request, the gate at once); applied a
    second time for the same ban it finds nothing left to do and tells no one twice."""
    from lms.core.models import AuditLog

    person = world.staff
    learning.enrol(world.users["caregiver"], person, import_test_course())
    cert = certificate(world, person)
    claim = claim_for(world, cert)
    db.session.commit()
    bans = impose(world)
    db.session.commit()
    assert person.id_number in registry.ban_gate([person.id_number])

    def state():
        db.session.expire_all()
        return (db.session.scalar(select(func.count()).select_from(Notification)),
                db.session.scalar(select(func.count()).select_from(AuditLog)),
                sorted(db.session.execute(select(Employment.id, Employment.end_date)).all()),
                db.session.get(type(cert), cert.id).status,
                db.session.get(SubsidyClaim, claim.id).state,
                [e.cancelled_at for e in db.session.scalars(select(Enrolment))])

    before = state()
    assert before[3] == "suspended" and before[4] == "rejected"
    effects = service._apply_effects(JOB, bans[0])
    db.session.commit()
    assert effects == service.BanEffects()
    assert state() == before


def test_a_person_not_in_the_registry_is_banned_by_number_and_held_at_hiring(world):
    number = id_number("320102", "19950505", 7)
    ban, = service.impose_ban(world.users["regulator"], **decide(number, name="王某", category="ethics",
                                                                  incident_date=None))
    db.session.commit()
    assert ban.person_id is None and ban.category == "ethics"
    with pytest.raises(registry.BannedError):
        registry.add_staff(world.users["inst_admin"], world.inst, id_number=number, name="王某",
                           post="nursery_carer", start_date=local_today())


# --- the direct managers ----------------------------------------------------------------------------


def employment_of(person) -> Employment:
    return db.session.scalar(select(Employment).where(Employment.person_id == person.id))


@pytest.fixture()
def managers(world):
    director = staff(world, world.inst, "李园长", post="director", seq=21)
    # the caregiver's recorded direct manager since before the incident (three days ago)
    lead = staff(world, world.inst, "赵组长", seq=22)
    registry.set_direct_manager(world.users["inst_admin"], employment_of(world.staff),
                                employment_of(lead), local_today() - timedelta(days=10))
    # flagged as managing others, but not recorded as the caregiver's manager
    flagged = staff(world, world.inst, "吴组长", seq=26, is_direct_manager=True)
    colleague = staff(world, world.inst, "钱同事", seq=23)
    elsewhere = staff(world, world.inst_other, "孙园长", post="director", seq=24)
    # a director who left before the incident is not a manager at the time
    former = staff(world, world.inst, "周前园长", post="director", seq=25)
    gone = db.session.scalar(select(Employment).where(Employment.person_id == former.id))
    registry.end_employment(world.users["inst_admin"], gone, local_today() - timedelta(days=30), "离职")
    db.session.commit()
    return {"director": director, "lead": lead, "flagged": flagged, "colleague": colleague,
            "elsewhere": elsewhere, "former": former}


def listed_on(world, day) -> set[int]:
    return {m.person.id for m in service.direct_managers(world.users["regulator"],
                                                         world.staff.id_number, day)}


def test_the_director_and_the_recorded_manager_at_the_time_are_listed(world, managers):
    incident = local_today() - timedelta(days=3)
    assert listed_on(world, incident) == {managers["director"].id, managers["lead"].id}
    lead, = [m for m in service.direct_managers(world.users["regulator"], world.staff.id_number,
                                                 incident) if m.person.id == managers["lead"].id]
    assert lead.employments == [employment_of(managers["lead"])]
    # before the lead was recorded as the caregiver's manager, only the director
    assert listed_on(world, local_today() - timedelta(days=11)) == {managers["director"].id}


def test_a_flagged_manager_not_recorded_for_this_person_is_not_listed(world, managers):
    assert employment_of(managers["flagged"]).is_direct_manager
    assert managers["flagged"].id not in listed_on(world, local_today() - timedelta(days=3))


def test_a_manager_recorded_only_after_the_incident_is_not_listed(world, managers):
    newcomer = staff(world, world.inst, "郑组长", seq=27)
    registry.set_direct_manager(world.users["inst_admin"], employment_of(world.staff),
                                employment_of(newcomer), local_today() - timedelta(days=1))
    db.session.commit()
    at_incident = listed_on(world, local_today() - timedelta(days=3))
    assert newcomer.id not in at_incident and managers["lead"].id in at_incident
    # the history is kept: from the change on, the newcomer and not the lead
    since = listed_on(world, local_today() - timedelta(days=1))
    assert newcomer.id in since and managers["lead"].id not in since


def test_the_managers_ticked_are_banned_too_each_linked_to_the_first(world, managers):
    director = managers["director"]
    bans = impose(world, managers=[director.id])
    db.session.commit()
    first, second = bans
    assert (second.id_number, second.linked_to_id, second.kind) == (director.id_number, first.id, "lifetime")
    assert first.linked_to_id is None
    assert service.linked_bans(first) == [second] and service.linked_bans(second) == [first]
    assert service.evidence_of(second).data == PDF
    ended = db.session.scalar(select(Employment).where(Employment.person_id == director.id))
    assert ended.state == "ended"
    # the manager not ticked works on
    lead = db.session.scalar(select(Employment).where(Employment.person_id == managers["lead"].id))
    assert lead.state == "current" and managers["lead"].id_number not in registry.ban_gate(
        [managers["lead"].id_number])


def test_only_listed_managers_and_only_for_child_abuse(world, managers):
    with pytest.raises(DomainError) as refused:
        impose(world, managers=[managers["colleague"].id])
    assert refused.value.field == "managers"
    with pytest.raises(DomainError) as refused:
        impose(world, managers=[managers["flagged"].id])
    assert refused.value.field == "managers"
    with pytest.raises(DomainError) as refused:
        impose(world, managers=[managers["director"].id], category="ethics")
    assert refused.value.field == "managers"
    db.session.rollback()
    assert bans_count() == 0


# --- bad input: refused, nothing half-saved -------------------------------------------------------


@pytest.mark.parametrize("change, field", [
    ({"id_number": "320102199003070001"}, "id_number"),
    ({"kind": "term", "ends_on": None}, "ends_on"),
    ({"kind": "term", "ends_on": "today"}, "ends_on"),
    ({"kind": "term", "ends_on": "yesterday"}, "ends_on"),
    ({"evidence": b""}, "evidence"),
    ({"evidence": b"MZ not a document"}, "evidence"),
    ({"reason": "  "}, "reason"),
    ({"decision_no": ""}, "decision_no"),
    ({"authority": ""}, "authority"),
    ({"incident_date": None}, "incident_date"),
    ({"decision_date": "tomorrow"}, "decision_date"),
    ({"category": "gossip"}, "category"),
])
def test_bad_input_is_refused_beside_its_field_and_nothing_is_saved(world, change, field):
    days = {"today": 0, "yesterday": -1, "tomorrow": 1}
    change = {k: local_today() + timedelta(days=days[v]) if v in days else v for k, v in change.items()}
    with pytest.raises(DomainError) as refused:
        impose(world, **change)
    assert refused.value.field == field
    db.session.rollback()
    assert bans_count() == 0
    assert db.session.scalar(select(Employment).where(Employment.person_id == world.staff.id)).state == "current"


def test_a_bad_identity_number_says_what_is_wrong(world):
    with pytest.raises(IdNumberError):
        impose(world, id_number="32010219900307000X")


# --- scope --------------------------------------------------------------------------------------------


def test_who_may_impose_a_ban(world):
    # a district regulator: not someone employed only in another district
    with pytest.raises(DomainError) as refused:
        impose(world, target=world.staff_other)
    assert refused.value.field == "id_number"
    db.session.rollback()
    assert bans_count() == 0
    assert impose(world, "regulator_other", target=world.staff_other)
    assert impose(world, "regulator_city", target=world.staff)
    for role in ("inst_admin", "admin", "hr_reviewer", "caregiver"):
        with pytest.raises(PermissionDenied):
            impose(world, role, target=id_number("320102", "19950505", 8))


def test_the_ban_list_is_scoped_to_the_district_and_the_city(world):
    mine = impose(world)[0]
    theirs = impose(world, "regulator_other", target=world.staff_other)[0]
    city = service.impose_ban(world.users["regulator_city"],
                              **decide(id_number("320102", "19950505", 9), category="other",
                                       incident_date=None))[0]

    def listed(who, **kw):
        return set(db.session.scalars(service.ban_list_statement(world.users[who], **kw)))

    assert listed("regulator") == {mine, city}
    assert listed("regulator_other") == {theirs, city}
    assert listed("regulator_city") == {mine, theirs, city}
    assert listed("regulator_city", category="other") == {city}
    assert listed("regulator_city", state="lifted") == set()


# --- term expiry --------------------------------------------------------------------------------------


def test_a_term_ban_ends_by_itself_and_its_effects_stay(world, app):
    cert = certificate(world, world.staff)
    ban, = impose(world, kind="term", ends_on=local_today() + timedelta(days=30), category="ethics")
    db.session.commit()
    assert service.expire_term_bans(JOB) == []
    # the term runs out: the gate lets the number through from its end date, before any job runs
    db.session.execute(update(Ban).where(Ban.id == ban.id).values(
        starts_on=local_today() - timedelta(days=60), ends_on=local_today()))
    db.session.commit()
    assert world.staff.id_number not in registry.ban_gate([world.staff.id_number])
    lifetime, = service.impose_ban(world.users["regulator"],
                                   **decide(id_number("320102", "19950505", 10), category="other",
                                          incident_date=None))
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["enforcement", "expire-bans"])
    assert result.exit_code == 0 and "1 term ban(s) expired" in result.output
    db.session.expire_all()
    assert db.session.get(Ban, ban.id).state == "expired"
    assert db.session.get(Ban, lifetime.id).state == "in_force"
    db.session.refresh(cert)
    assert cert.status == "suspended"  # a regulator reinstates, separately
    assert [e.action for e in service.history(db.session.get(Ban, ban.id))] == ["create", "expire"]


def test_users_cannot_run_the_jobs(world):
    for role in ("regulator", "regulator_city", "admin"):
        with pytest.raises(PermissionDenied):
            service.expire_term_bans(world.users[role])
        with pytest.raises(PermissionDenied):
            service.rescreen(world.users[role])


# --- four eyes ----------------------------------------------------------------------------------------


def test_lifting_needs_a_second_regulator(world):
    cert = certificate(world, world.staff)
    ban, = impose(world)
    db.session.commit()
    request = service.request_lift(world.users["regulator"], ban, "决定被复议撤销")
    db.session.commit()
    assert service.request_actions(request, world.users["regulator"]) == []
    assert service.ban_actions(ban, world.users["regulator"]) == []  # one request at a time
    with pytest.raises(service.FourEyesViolation) as refused:
        service.decide_lift(world.users["regulator"], request, True, "同意")
    assert "second, different regulator" in str(refused.value)
    db.session.rollback()
    with pytest.raises(PermissionDenied):  # another district's regulator
        service.decide_lift(world.users["regulator_other"], request, True, "同意")
    db.session.rollback()
    assert ban.state == "in_force" and request.state == "pending"
    assert set(service.request_actions(request, world.users["regulator_city"])) == set(LiftRequestAction)
    service.decide_lift(world.users["regulator_city"], request, True, "复议决定书已核实")
    db.session.commit()
    assert (ban.state, request.state, request.decided_by_id) == (
        "lifted", "approved", world.users["regulator_city"].id)
    assert ban.lifted_at is not None
    assert world.staff.id_number not in registry.ban_gate([world.staff.id_number])
    db.session.refresh(cert)
    assert cert.status == "suspended"  # lifting does not reinstate certificates
    assert [service.history_title(e) for e in service.history(ban)] == [
        "Ban imposed", "Lift or annulment requested", "Approve", "Lift the ban early"]
    # the one who asked hears the outcome
    assert any(n.kind == "enforcement.lift_decided" for n in notes_of(world.users["regulator"]))


def test_a_refusal_leaves_the_ban_in_force_and_the_history_whole(world):
    ban, = impose(world)
    first = service.request_lift(world.users["regulator"], ban, "申请提前解除", annul=False)
    db.session.commit()
    with pytest.raises(DomainError):
        service.request_lift(world.users["regulator_city"], ban, "再申请")
    db.session.rollback()
    service.decide_lift(world.users["regulator_city"], first, False, "理由不足")
    db.session.commit()
    assert (ban.state, first.state) == ("in_force", "refused")
    assert world.staff.id_number in registry.ban_gate([world.staff.id_number])
    second = service.request_lift(world.users["regulator_city"], ban, "登记错误", annul=True)
    service.decide_lift(world.users["regulator"], second, True, "核实为错误登记")
    db.session.commit()
    assert ban.state == "annulled"
    assert [r.state for r in service.lift_requests(ban)] == ["refused", "approved"]
    with pytest.raises(InvalidTransition):
        service.request_lift(world.users["regulator"], ban, "再解除")


def test_the_database_holds_four_eyes_too(world):
    ban, = impose(world)
    request = service.request_lift(world.users["regulator"], ban, "申请")
    db.session.commit()
    with pytest.raises(Exception):  # noqa: B017 - the CHECK constraint, whatever the driver calls it
        db.session.execute(update(BanLiftRequest).where(BanLiftRequest.id == request.id)
                           .values(decided_by_id=request.requested_by_id))
        db.session.flush()
    db.session.rollback()


def test_a_reason_is_needed_to_ask_and_to_decide(world):
    ban, = impose(world)
    with pytest.raises(DomainError):
        service.request_lift(world.users["regulator"], ban, " ")
    request = service.request_lift(world.users["regulator"], ban, "申请")
    with pytest.raises(DomainError):
        service.decide_lift(world.users["regulator_city"], request, True, "")


# --- the transition tables ------------------------------------------------------------------------------


def _past_term_ban() -> Ban:
    return registry.record_ban(DEMO, id_number=id_number("320102", "19950505", 11), name="某某",
                               kind="term", starts_on=local_today() - timedelta(days=20),
                               ends_on=local_today() - timedelta(days=1), reason="理由")


@pytest.mark.parametrize("state, action", list(itertools.product(BanState, BanAction)),
                         ids=lambda v: v.value)
def test_every_ban_state_and_action(world, state, action):
    ban = _past_term_ban()
    ban.state = state.value
    db.session.flush()
    target = service.BAN_TRANSITIONS.get((state, action))
    before = len(service.history(ban))
    if target is None:
        with pytest.raises(InvalidTransition):
            service.BAN.apply(JOB, ban, action, reason="测试")
        assert ban.state == state.value and len(service.history(ban)) == before
        return
    service.BAN.apply(JOB, ban, action, reason="测试")
    assert ban.state == target.value
    assert service.history(ban)[-1].to_state == target.value


def test_a_lifetime_ban_never_expires(world):
    ban, = impose(world)
    with pytest.raises(ActionNotPossible):
        service.BAN.apply(JOB, ban, BanAction.EXPIRE)
    with pytest.raises(Exception):  # noqa: B017 - the database refuses it too
        db.session.execute(update(Ban).where(Ban.id == ban.id).values(state="expired"))
        db.session.flush()
    db.session.rollback()


@pytest.mark.parametrize("state, action", list(itertools.product(LiftRequestState, LiftRequestAction)),
                         ids=lambda v: v.value)
def test_every_request_state_and_action(world, state, action):
    ban, = impose(world)
    request = service.request_lift(world.users["regulator"], ban, "申请")
    request.state = state.value
    db.session.flush()
    target = service.REQUEST_TRANSITIONS.get((state, action))
    if target is None:
        with pytest.raises(InvalidTransition):
            service.LIFT_REQUEST.apply(world.users["regulator_city"], request, action, reason="r")
        assert request.state == state.value
        return
    service.LIFT_REQUEST.apply(world.users["regulator_city"], request, action, reason="r")
    assert request.state == target.value


# --- re-screening ---------------------------------------------------------------------------------------


def test_a_rescreen_alerts_until_the_employment_ends(world, app, client, login_as):
    # a ban recorded from the command line (no effects): the person still works at inst_other
    person = world.staff_other
    registry.record_ban(DEMO, id_number=person.id_number, name=person.name, kind="lifetime",
                        starts_on=local_today(), ends_on=None, reason="法院判决")
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["enforcement", "rescreen"])
    assert result.exit_code == 0 and "1 new alert(s)" in result.output
    again = service.rescreen(JOB)
    assert again.new_alerts == [] and again.screened == 2
    db.session.commit()

    def alerted(who):
        return [a.person_id for a in service.open_alerts(world.users[who])]

    assert alerted("regulator_other") == [person.id] and alerted("regulator_city") == [person.id]
    assert alerted("inst_admin_other") == [person.id]
    assert alerted("regulator") == [] and alerted("inst_admin") == [] and alerted("caregiver") == []
    login_as("inst_admin_other")
    home = client.get("/", headers={"Accept-Language": "en"}).text
    assert 'id="ban-alerts"' in home and person.name in home
    employment = db.session.scalar(select(Employment).where(Employment.person_id == person.id))
    registry.end_employment(world.users["inst_admin_other"], employment, local_today(), "禁业")
    db.session.commit()
    assert alerted("inst_admin_other") == []
    assert service.rescreen(JOB).resolved == 1
    assert db.session.scalar(select(BanAlert.resolved_at)) is not None
    assert 'id="ban-alerts"' not in client.get("/").text


def test_a_regulator_sees_the_requests_awaiting_them(world):
    ban, = impose(world)
    service.request_lift(world.users["regulator"], ban, "申请")
    db.session.commit()
    assert service.requests_awaiting(world.users["regulator"]) == []
    assert [r.ban_id for r in service.requests_awaiting(world.users["regulator_city"])] == [ban.id]
    assert service.requests_awaiting(world.users["regulator_other"]) == []


def test_notified_regulators_are_only_those_of_the_districts_where_the_person_works(world):
    # employed in both districts: both districts' regulators and both institutions hear of it
    registry.add_staff(DEMO, world.inst_other, id_number=world.staff.id_number, name=world.staff.name,
                       post="infant_carer", start_date=date(2025, 1, 1))
    db.session.commit()
    impose(world, "regulator_city")
    db.session.commit()
    for who in ("inst_admin", "inst_admin_other", "regulator", "regulator_other"):
        assert len(notes_of(world.users[who])) == 1, who
    assert notes_of(world.users["regulator_city"]) == []
    assert db.session.scalar(select(func.count(Employment.id)).where(
        Employment.person_id == world.staff.id, Employment.end_date.is_(None))) == 0
