"""Summary rows and snapshots: refreshed past the dirty list (incremental), everyone on a new
day, and a consistency check that finds a tampered snapshot."""

from __future__ import annotations

import io
from datetime import date, timedelta
from decimal import Decimal

from openpyxl import Workbook
from sqlalchemy import func, select

from lms.compliance import rollups, service
from lms.compliance.models import ComplianceDirty, PersonStatus, Snapshot, SnapshotMonth
from lms.core import settings
from lms.core.actors import DEMO
from lms.core.clock import local_today
from lms.extensions import db
from lms.registry import roster
from lms.registry import service as registry
from lms.registry.models import StaffRecord
from tests.compliance.conftest import hours, make_compliant, qualify, staff_record
from tests.factories import id_number


def _dirty() -> set[int]:
    return set(db.session.scalars(select(ComplianceDirty.person_id)))


def _snap(scope, scope_id) -> Snapshot:
    return db.session.scalar(select(Snapshot).where(Snapshot.scope == scope,
                                                    Snapshot.scope_id == scope_id))


def _clear():
    db.session.execute(ComplianceDirty.__table__.delete())


def test_every_write_that_matters_marks_its_person(world):
    _clear()
    staff_record(world.staff)
    assert _dirty() == {world.staff.id}
    _clear()
    qualify(world.staff_other, "yuyingyuan")
    assert _dirty() == {world.staff_other.id}
    _clear()
    hours(world.staff, "ethics", 2)
    assert _dirty() == {world.staff.id}
    _clear()
    registry.end_employment(DEMO, world.staff.employments[0], local_today(), "辞职")
    assert _dirty() == {world.staff.id}
    _clear()
    registry.record_ban(DEMO, id_number=world.staff_other.id_number, name=world.staff_other.name,
                        kind="lifetime", starts_on=local_today(), ends_on=None, reason="虐童")
    assert _dirty() == {world.staff_other.id}


def test_a_roster_import_marks_its_people(world):
    _clear()
    book = Workbook()
    book.active.append(["姓名", "身份证号", "手机号", "岗位", "入职日期"])
    book.active.append(["李四", id_number("320102", "19920101", 5), "13700000000", "保育员",
                        local_today().isoformat()])
    out = io.BytesIO()
    book.save(out)
    roster.import_roster(DEMO, world.inst, out.getvalue())
    db.session.flush()
    person = registry.find_person(id_number("320102", "19920101", 5))
    assert person.id in _dirty()


def test_refresh_builds_snapshots_that_match_the_raw_rows(world):
    make_compliant(world.staff, world.inst)
    result = rollups.refresh(DEMO)
    assert result.full and result.persons == 2 and _dirty() == set()
    inst = _snap("institution", world.inst.id)
    assert inst.counts() == {"people": 1, "certified": 1, "hours_on_track": 1, "health_current": 1,
                             "criminal_record_on_file": 1, "banned_employed": 0,
                             "multi_institution": 0}
    assert inst.district_id == world.xuanwu.id
    assert _snap("institution", world.inst_other.id).counts()["certified"] == 0
    assert _snap("district", world.xuanwu.id).counts()["people"] == 1
    city = _snap("city", 0).counts()
    assert city["people"] == 2 and city["certified"] == 1
    raw = rollups.counts_from_raw([world.inst.id, world.inst_other.id], local_today())
    assert raw[world.inst.id] == inst.counts()
    month = db.session.scalar(select(SnapshotMonth).where(SnapshotMonth.scope == "city"))
    assert month.month == local_today().strftime("%Y-%m") and month.people == 2
    assert rollups.check(DEMO, 10, seed=1) == ([], 0)


def test_refresh_is_incremental_past_the_dirty_list(world):
    rollups.refresh(DEMO)
    other_before = _snap("institution", world.inst_other.id).computed_at
    staff_record(world.staff, "no_criminal_record")
    assert _dirty() == {world.staff.id}
    result = rollups.refresh(DEMO)
    assert not result.full and result.persons == 1
    assert (result.institutions, result.districts) == (1, 1)
    assert _snap("institution", world.inst.id).criminal_record_on_file == 1
    assert _snap("city", 0).criminal_record_on_file == 1
    # the other district's institution was not touched
    assert _snap("institution", world.inst_other.id).computed_at == other_before
    assert db.session.scalar(select(func.count()).select_from(PersonStatus)) == 2


def test_a_person_leaving_updates_the_old_institution(world):
    rollups.refresh(DEMO)
    registry.end_employment(DEMO, world.staff.employments[0], local_today(), "辞职")
    rollups.refresh(DEMO)
    assert _snap("institution", world.inst.id).people == 0
    assert _snap("district", world.xuanwu.id).people == 0


def _yesterday():
    for snap in db.session.scalars(select(Snapshot)):
        snap.computed_on = local_today() - timedelta(days=1)
    db.session.flush()


def test_a_new_day_recomputes_only_rows_the_date_can_change(world):
    make_compliant(world.staff, world.inst)
    rollups.refresh(DEMO)
    status = db.session.get(PersonStatus, world.staff.id)
    # a compliant person's row holds until the health check of 30 days ago lapses, or the
    # new year (new yearly hours), whichever comes first
    lapses = service.health_check_lapses_on(
        db.session.scalar(select(StaffRecord).where(StaffRecord.person_id == world.staff.id,
                                                    StaffRecord.kind == "health_check")))
    assert status.stable_until == min(lapses, date(local_today().year + 1, 1, 1))
    other = db.session.get(PersonStatus, world.staff_other.id)
    assert other.stable_until == date(local_today().year + 1, 1, 1)  # behind all year anyway
    _yesterday()
    result = rollups.refresh(DEMO)
    assert not result.full and result.persons == 0
    assert {s.computed_on for s in db.session.scalars(select(Snapshot))} == {local_today()}
    # a row whose day has come is recomputed, alone
    status.stable_until = local_today()
    _yesterday()
    result = rollups.refresh(DEMO)
    assert not result.full and result.persons == 1 and result.institutions == 1
    assert rollups.check(DEMO, 10, seed=5) == ([], 0)


def test_a_row_expires_when_the_pro_rata_hours_overtake(world, check):
    hours(world.staff, "skills", 72)
    hours(world.staff, "ethics", 10)
    pc = check(world.staff)
    on_track = pc.ethics.on_track
    until = pc.stable_until()
    if on_track:  # 10 of 40 lasts until about the end of March
        assert service.pro_rata(Decimal(40), until) > Decimal(10)
        assert service.pro_rata(Decimal(40), until - timedelta(days=1)) <= Decimal(10)
    else:
        assert until == date(local_today().year + 1, 1, 1)


def test_a_new_setting_recomputes_everyone(world):
    rollups.refresh(DEMO)
    settings.set_setting(DEMO, "hours.ethics_required", 20, local_today(), district_id=world.xuanwu.id)
    _yesterday()
    assert rollups.refresh(DEMO).full


def test_a_ban_starting_on_a_passed_day_recomputes_its_person(world):
    rollups.refresh(DEMO)
    registry.record_ban(DEMO, id_number=world.staff.id_number, name=world.staff.name,
                        kind="lifetime", starts_on=local_today(), ends_on=None, reason="虐童")
    _clear()
    _yesterday()
    result = rollups.refresh(DEMO)
    assert result.persons == 1 and _snap("institution", world.inst.id).banned_employed == 1


def test_banned_and_multi_institution_counts(world):
    registry.add_staff(DEMO, world.inst_other, id_number=world.staff.id_number,
                       name=world.staff.name, post="finance", start_date=date(2025, 1, 1))
    registry.record_ban(DEMO, id_number=world.staff_other.id_number, name=world.staff_other.name,
                        kind="lifetime", starts_on=local_today(), ends_on=None, reason="虐童")
    rollups.refresh(DEMO)
    other = _snap("institution", world.inst_other.id)
    assert other.people == 2 and other.banned_employed == 1 and other.multi_institution == 1
    city = _snap("city", 0)
    assert city.people == 2 and city.banned_employed == 1 and city.multi_institution == 1
    assert rollups.check(DEMO, 10, seed=2) == ([], 0)


def test_the_check_finds_a_tampered_snapshot(world, app):
    rollups.refresh(DEMO)
    _snap("institution", world.inst.id).health_current = 1
    db.session.commit()
    differences, skipped = rollups.check(DEMO, 10, seed=3)
    assert [(d.scope, d.scope_id) for d in differences] == [("institution", world.inst.id)]
    assert differences[0].kept["health_current"] == 1
    assert differences[0].recomputed["health_current"] == 0
    runner = app.test_cli_runner()
    result = runner.invoke(args=["compliance", "check", "--sample", "10"])
    assert result.exit_code == 1 and "DIFFERENT institution" in result.output
    result = runner.invoke(args=["compliance", "refresh", "--all"])
    assert result.exit_code == 0 and "refreshed 2 people" in result.output
    result = runner.invoke(args=["compliance", "check", "--sample", "10"])
    assert result.exit_code == 0, result.output


def test_a_write_while_a_refresh_runs_is_not_forgotten(world):
    """The refresh clears only the marks as it read them: a person written again meanwhile (a
    write it may not have seen) stays marked, so their summary row is not served."""
    def marks():
        return dict(db.session.execute(
            select(ComplianceDirty.person_id, ComplianceDirty.marked_at)).all())

    make_compliant(world.staff, world.inst)
    rollups.refresh(DEMO)
    staff_record(world.staff, issued_on=local_today(), org=world.inst)
    # the mark as a refresh reads it (made a few seconds old: the tests' clock stands still)
    db.session.execute(ComplianceDirty.__table__.update().values(
        marked_at=marks()[world.staff.id] - timedelta(seconds=5)))
    read = marks()
    # another write, committed while that refresh runs, marks the person again
    staff_record(world.staff, kind="no_criminal_record", issued_on=local_today(), org=world.inst)
    assert marks()[world.staff.id] != read[world.staff.id]
    rollups._forget(read)  # what the refresh that read the first mark clears
    assert world.staff.id in _dirty()
    rollups._forget(marks())
    assert world.staff.id not in _dirty()


def test_the_check_finds_a_tampered_summary_row(world, app):
    """The staff table is served from the summary rows' facts: the check compares them too."""
    make_compliant(world.staff, world.inst)
    rollups.refresh(DEMO)
    status = db.session.get(PersonStatus, world.staff.id)
    status.facts = {**status.facts, "record": None}  # the certificate of no criminal record
    db.session.commit()
    assert "record_missing" in [pc.gap_codes for pc in service.staff_compliance(
        DEMO, world.inst) if pc.person.id == world.staff.id][0]
    differences, _skipped = rollups.check(DEMO, 10, seed=3)
    assert [(d.scope, d.scope_id) for d in differences] == [("staff", world.inst.id)]
    assert differences[0].kept == {world.staff.id: ["record_missing"]}
    assert differences[0].recomputed == {world.staff.id: []}
    result = app.test_cli_runner().invoke(args=["compliance", "check", "--sample", "10"])
    assert result.exit_code == 1 and "DIFFERENT staff" in result.output


def test_the_check_skips_institutions_waiting_for_a_refresh(world):
    rollups.refresh(DEMO)
    staff_record(world.staff)
    differences, skipped = rollups.check(DEMO, 10, seed=4)
    assert differences == [] and skipped == 1
