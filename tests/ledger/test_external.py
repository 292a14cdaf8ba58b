"""External class hours: recorded only by someone who can vouch for them, with evidence,
bounded per person and year, and above a threshold confirmed by an administrator or a
regulator of the person's district before they reach the ledger (issue 12)."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from lms.core import settings
from lms.core.clock import local_today
from lms.core.errors import DomainError, PermissionDenied
from lms.core.states import InvalidTransition
from lms.extensions import db
from lms.ledger import service
from lms.ledger.models import (
    ExternalAction,
    ExternalRecord,
    ExternalState,
    LedgerEntry,
    LedgerTotal,
)

PDF = b"%PDF-1.4\n%evidence\n"
TODAY = date(2026, 11, 29)


def _record(actor, person, hours="4.5", reference="JS-2026-0001", **overrides):
    values = dict(year=2026, category="skills", hours=hours, provider="江苏省托育培训平台",
                  reference=reference, evidence_name="cert.pdf", evidence=PDF, today=TODAY)
    values.update(overrides)
    return service.record_external(actor, person, **values)


def _total(person, year=2026, category="skills"):
    row = db.session.get(LedgerTotal, (person.id, year, category))
    return row.hours if row else Decimal(0)


def _entries(person):
    return db.session.scalar(select(func.count()).select_from(LedgerEntry).where(
        LedgerEntry.person_id == person.id, LedgerEntry.source_type == "external"))


def test_the_form_checks_what_it_is_given(world):
    admin = world.users["admin"]
    for overrides, message in [
        ({"hours": "abc"}, "must be a number"),
        ({"hours": "0"}, "more than 0"),
        ({"hours": "1.234"}, "two decimal places"),
        ({"evidence": b"MZ\x90\x00 not a pdf"}, "PDF, JPEG or PNG"),
        ({"evidence": b""}, "Attach the evidence"),
        ({"year": 2019}, "year must be between"),
        ({"provider": " "}, "Name the platform"),
        ({"category": "cooking"}, "skills training or professional ethics"),
    ]:
        with pytest.raises(DomainError, match=message):
            _record(admin, world.staff, **overrides)
    saved = _record(admin, world.staff)
    db.session.commit()
    assert saved.state == "confirmed" and saved.evidence_type == "application/pdf"
    assert _total(world.staff) == Decimal("4.5")
    with pytest.raises(DomainError, match="already been entered"):
        _record(admin, world.staff)
    db.session.rollback()
    assert _total(world.staff) == Decimal("4.5")


def test_only_the_current_institution_or_an_administrator_records(world):
    """A training base (any base, for anyone in the city) no longer adds hours; nor does an
    institution for people it does not employ, nor once their employment ended."""
    for role in ("base_staff", "inst_admin_other", "regulator", "hr_reviewer", "caregiver"):
        with pytest.raises(PermissionDenied):
            _record(world.users[role], world.staff, reference=f"R-{role}")
    with pytest.raises(PermissionDenied):
        _record("test", world.staff)
    assert _entries(world.staff) == 0
    mine = _record(world.users["inst_admin"], world.staff, hours="2")
    assert mine.organisation_id == world.inst.id and mine.district_id == world.xuanwu.id
    by_admin = _record(world.users["admin"], world.staff, hours="2", reference="R-admin")
    assert by_admin.organisation_id is None
    assert _total(world.staff) == Decimal(4)
    # when the employment ends, the institution can no longer vouch for new hours
    world.staff.employments[0].end_date = date(2026, 11, 1)
    world.staff.employments[0].state = "ended"
    db.session.flush()
    with pytest.raises(PermissionDenied):
        _record(world.users["inst_admin"], world.staff, hours="1", reference="R-after")


def test_an_institution_learns_nothing_about_people_it_does_not_employ(world):
    inst_admin = world.users["inst_admin"]
    answers = set()
    for number, name in [(world.staff_other.id_number, world.staff_other.name),  # another's staff
                         (world.staff.id_number, "别人"),  # the wrong name
                         ("11010519491231002X", "无此人")]:  # nobody
        with pytest.raises(DomainError) as raised:
            service.identify_for_external(inst_admin, number, name)
        answers.add((str(raised.value), raised.value.field))
    assert len(answers) == 1
    assert service.identify_for_external(inst_admin, world.staff.id_number.lower(),
                                         world.staff.name).id == world.staff.id


def test_hours_above_the_threshold_wait_for_confirmation(world):
    """The threshold counts the person's external hours of the year, so splitting one claim
    into small records gains nothing; a waiting record is not in the ledger."""
    inst_admin, regulator = world.users["inst_admin"], world.users["regulator"]
    threshold = settings.get_setting("ledger.external_hours_confirm_above")
    first = _record(inst_admin, world.staff, hours=str(threshold - 4), reference="A")
    second = _record(inst_admin, world.staff, hours="4", reference="B")
    assert first.state == second.state == "confirmed"
    third = _record(inst_admin, world.staff, hours="0.5", reference="C")
    db.session.commit()
    assert third.state == "pending" and third.ledger_entry_id is None
    assert _total(world.staff) == Decimal(threshold) and _entries(world.staff) == 2

    # who sees it waiting: administrators and the regulators of the person's district
    assert [r.id for r in service.external_queue(regulator)] == [third.id]
    assert [r.id for r in service.external_queue(world.users["regulator_city"])] == [third.id]
    assert [r.id for r in service.external_queue(world.users["admin"])] == [third.id]
    assert service.external_queue(world.users["regulator_other"]) == []
    assert service.external_queue(inst_admin) == []
    with pytest.raises(PermissionDenied):
        service.decide_external(world.users["regulator_other"], third, "confirm")
    with pytest.raises(PermissionDenied):
        service.decide_external(inst_admin, third, "confirm")

    service.decide_external(regulator, third, "confirm")
    db.session.commit()
    assert third.state == "confirmed" and third.ledger_entry_id is not None
    assert _total(world.staff) == Decimal(threshold) + Decimal("0.5")
    events = service.external_history(third)
    assert [(e.from_state, e.to_state) for e in events] == [("", "pending"), ("pending", "confirmed")]
    assert events[-1].actor_id == regulator.id and events[-1].authority == "regulator"
    with pytest.raises(InvalidTransition):
        service.decide_external(regulator, third, "reject", "too late")


def test_nobody_confirms_hours_they_recorded(world):
    admin = world.users["admin"]
    big = _record(admin, world.staff, hours="60")
    assert big.state == "pending"
    assert service.external_actions(big, admin) == []
    with pytest.raises(PermissionDenied):
        service.decide_external(admin, big, "confirm")
    assert service.external_actions(big, world.users["regulator"]) == [ExternalAction.CONFIRM,
                                                                       ExternalAction.REJECT]
    with pytest.raises(DomainError, match="reason"):
        service.decide_external(world.users["regulator"], big, "reject")
    service.decide_external(world.users["regulator"], big, "reject", "证明与平台记录不符")
    db.session.commit()
    assert big.state == "rejected" and _entries(world.staff) == 0
    # rejected hours do not count against the yearly bound
    assert service.external_hours_of_year(world.staff, 2026) == 0


def test_hours_are_bounded_per_person_and_year(world):
    admin = world.users["admin"]
    bound = settings.get_setting("ledger.external_hours_per_year")
    _record(admin, world.staff, hours="100", reference="A")
    _record(admin, world.staff, hours=str(bound - 100), reference="B")  # pending count too
    with pytest.raises(DomainError, match="limited to"):
        _record(admin, world.staff, hours="0.5", reference="C")
    # another year, and another person, have their own bound
    _record(admin, world.staff, hours="1", reference="D", year=2025)
    _record(admin, world.staff_other, hours="1", reference="E")
    settings.set_setting(admin, "ledger.external_hours_per_year", bound + 10, date(2026, 1, 1))
    _record(admin, world.staff, hours="10", reference="F")


STATE_PAIRS = [(s, a) for s in ExternalState for a in ExternalAction]


@pytest.mark.parametrize(("state", "action"), STATE_PAIRS, ids=[f"{s}-{a}" for s, a in STATE_PAIRS])
def test_every_state_and_action(world, state, action):
    """Allowed pairs move to the table's state; every other pair is refused and changes nothing."""
    record = _record(world.users["inst_admin"], world.staff, hours="60")
    record.state = state.value
    db.session.commit()
    target = service.EXTERNAL_TRANSITIONS.get((state, action))
    regulator = world.users["regulator"]
    offered = action in service.external_actions(record, regulator)
    assert offered == (target is not None)
    if target is None:
        with pytest.raises(InvalidTransition):
            service.decide_external(regulator, record, action, "reason")
        db.session.rollback()
        assert db.session.get(ExternalRecord, record.id).state == state.value
    else:
        service.decide_external(regulator, record, action, "reason")
        assert record.state == target.value
        credited = _entries(world.staff)
        assert credited == (1 if target is ExternalState.CONFIRMED else 0)


# --- pages --------------------------------------------------------------------------------------


def _form(world, **overrides):
    data = {"id_number": world.staff.id_number.lower(), "name": world.staff.name, "year": local_today().year,
            "category": "skills", "hours": "60", "provider": "江苏省托育培训平台",
            "reference": "JS-9", "note": "", "evidence": (io.BytesIO(PDF), "证明.pdf")}
    data.update(overrides)
    return data


def test_recording_and_confirming_through_the_pages(app, client, world, login_as):
    login_as("base_staff")
    assert client.get("/ledger/external").status_code == 403
    client.post("/logout")
    login_as("inst_admin")
    page = client.post("/ledger/external", data=_form(world), content_type="multipart/form-data",
                       follow_redirects=True).get_data(as_text=True)
    assert "once an administrator or regulator confirms" in page
    other = client.post("/ledger/external", data=_form(
        world, id_number=world.staff_other.id_number, name=world.staff_other.name, reference="X"),
        content_type="multipart/form-data").get_data(as_text=True)
    assert "None of your current staff" in other
    record = db.session.scalar(select(ExternalRecord))
    assert record.state == "pending"
    # the recorder sees the record and its evidence, but is offered no decision
    detail = client.get(f"/ledger/external/{record.id}").get_data(as_text=True)
    assert 'id="external-decide"' not in detail
    assert client.get(f"/ledger/external/{record.id}/evidence").data == PDF
    assert client.post(f"/ledger/external/{record.id}/decide", data={"action": "confirm"}).status_code == 403
    client.post("/logout")

    login_as("regulator")
    queue = client.get("/ledger/external/queue").get_data(as_text=True)
    assert world.staff.name in queue and world.staff.id_number not in queue
    detail = client.get(f"/ledger/external/{record.id}").get_data(as_text=True)
    assert 'value="confirm"' in detail and 'value="reject"' in detail
    evidence = client.get(f"/ledger/external/{record.id}/evidence")
    assert evidence.data == PDF and "attachment" in evidence.headers["Content-Disposition"]
    response = client.post(f"/ledger/external/{record.id}/decide", data={"action": "confirm"})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(ExternalRecord, record.id).state == "confirmed"
    assert _total(world.staff) == Decimal(60)
    assert world.staff.name not in client.get("/ledger/external/queue").get_data(as_text=True)
    client.post("/logout")
    login_as("regulator_other")
    assert client.get(f"/ledger/external/{record.id}").status_code == 403
    assert client.get(f"/ledger/external/{record.id}/evidence").status_code == 403
