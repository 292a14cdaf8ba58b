"""双随机 inspections and 人证合一 checks: the draw is reproducible and fair (conflicts of interest
excluded, at least two inspectors, its seed and pools kept and verifiable), the task moves only
through its table, the public notices carry no personal data, and an inspector on site finds
the institution's staff (and only them), records checks, and mismatches become follow-ups."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from PIL import Image
from sqlalchemy import select

from lms.core.actors import DEMO
from lms.core.clock import local_today, this_year
from lms.core.errors import DomainError, NotFound, PermissionDenied
from lms.core.models import AuditLog
from lms.core.states import ActionNotPossible, InvalidTransition
from lms.enforcement import inspections as svc
from lms.enforcement.models import (
    IdentityCheckPhoto,
    InspectionTask,
    TaskAction,
    TaskState,
)
from lms.extensions import db
from lms.registry import service as registry
from lms.registry.models import StaffRecord
from tests.factories import credit_code
from tests.helpers import certificate

pytestmark = pytest.mark.usefixtures("app")


def _institutions(world, n: int, district=None) -> list:
    district = district or world.xuanwu
    return [registry.create_organisation(DEMO, kind="institution", name=f"托育园{i}",
                                         district=district, credit_code=credit_code(20 + i + (
                                             0 if district is world.xuanwu else 40)))
            for i in range(n)]


def _pool(world, n: int, district=None) -> list:
    district = district or world.xuanwu
    return [svc.add_inspector(DEMO, district, name=f"检查员{i}", is_leader=i == 0)
            for i in range(n)]


def _task(world, *, count=None, percent=None, team=2, district=None):
    if count is None and percent is None:
        count = 2
    return svc.create_task(DEMO, district or world.xuanwu, year=this_year(), title="年度抽查",
                           draw_count=count, draw_percent=percent, inspectors_per_institution=team)


def _picks(task) -> list:
    db.session.refresh(task)
    return [[v.organisation_id, [m.inspector_id for m in v.team]] for v in task.visits]


# --- the draw ------------------------------------------------------------------------------------


def test_the_same_seed_draws_the_same_institutions_and_inspectors(world):
    _institutions(world, 5)
    _pool(world, 5)
    regulator = world.users["regulator"]
    task = _task(world, count=3)
    first = svc.draw(regulator, task, "2026-玄武-01")
    drawn = _picks(task)
    assert len(drawn) == 3 and all(len(team) == 2 for _org, team in drawn)
    again = svc.draw(regulator, task, "2026-玄武-01")
    assert _picks(task) == drawn and again.picks == first.picks and again.digest == first.digest
    assert TaskState(task.state) == TaskState.DRAWN and len(task.draws) == 2  # both kept
    # another task of the same district with the same seed: the same picks
    other = _task(world, count=3)
    svc.draw(world.users["regulator_city"], other, "2026-玄武-01")
    assert _picks(other) == drawn
    # other seeds draw otherwise
    results = set()
    for seed in ("a", "b", "c", "d"):
        svc.draw(regulator, task, seed)
        results.add(repr(_picks(task)))
    assert len(results) > 1


def test_the_draw_is_python_random_with_the_documented_steps(world):
    import random

    orgs = _institutions(world, 4)
    pool = _pool(world, 3)
    task = _task(world, count=2)
    svc.draw(world.users["regulator"], task, "seed-1")
    rng = random.Random("seed-1")
    chosen = rng.sample([world.inst.id] + [o.id for o in orgs], 2)
    expected = [[org, rng.sample([i.id for i in pool], 2)] for org in chosen]
    assert _picks(task) == expected


def test_an_inspector_never_inspects_where_they_work_or_worked(world):
    orgs = _institutions(world, 3)
    pool = _pool(world, 3)
    svc.add_affiliation(DEMO, pool[0], orgs[0])
    # a regulator who once worked at world.inst: their registry record's employment counts
    pool[1].person_id = world.staff.id
    db.session.flush()
    task = _task(world, count=4)  # every institution
    for seed in ("x1", "x2", "x3", "x4", "x5", "x6"):
        svc.draw(world.users["regulator"], task, seed)
        teams = dict((org, team) for org, team in _picks(task))
        assert pool[0].id not in teams[orgs[0].id]
        assert pool[1].id not in teams[world.inst.id]
    assert task.draw.conflicts == {str(world.inst.id): [pool[1].id], str(orgs[0].id): [pool[0].id]}


def test_fewer_than_two_eligible_inspectors_is_a_clear_error(world):
    pool = _pool(world, 2)
    svc.add_affiliation(DEMO, pool[0], world.inst)
    task = _task(world, count=1)
    with pytest.raises(svc.NotEnoughInspectors, match=world.inst.name) as err:
        svc.draw(world.users["regulator"], task, "s")
    assert "1" in str(err.value) and "2" in str(err.value)
    assert task.draws == [] and TaskState(task.state) == TaskState.DRAFT
    with pytest.raises(DomainError):
        _task(world, team=1)  # a team of one is refused at planning


def test_the_share_or_count_is_recorded(world):
    _institutions(world, 4)  # five in the pool with world.inst
    _pool(world, 3)
    task = _task(world, percent=30)
    row = svc.draw(world.users["regulator"], task, "share")
    assert (row.draw_percent, row.draw_count, row.drawn_count) == (30, None, 2)  # ceil(1.5)
    assert len(row.institution_pool) == 5 and row.institution_pool == sorted(row.institution_pool)
    by_count = _task(world, count=9)
    assert svc.draw(world.users["regulator"], by_count, "c").drawn_count == 5  # at most the pool
    with pytest.raises(DomainError):
        svc.create_task(DEMO, world.xuanwu, year=this_year(), title="t", draw_percent=10,
                        draw_count=2)


def test_the_pool_leaves_out_closed_institutions_and_other_kinds(world):
    closed = _institutions(world, 2)
    closed[0].is_active = False
    _pool(world, 2)
    task = _task(world, percent=100)
    row = svc.draw(world.users["regulator"], task, "p")
    assert row.institution_pool == [world.inst.id, closed[1].id]  # not the base nor the bureau


def test_verify_draw_detects_a_tampered_pool_and_tampered_teams(world):
    _institutions(world, 4)
    pool = _pool(world, 4)
    task = _task(world, count=2)
    svc.draw(world.users["regulator"], task, "verify-me")
    assert svc.verify_draw(task).ok
    row = task.draw
    row.institution_pool = list(reversed(row.institution_pool))
    db.session.flush()
    check = svc.verify_draw(task)
    assert not check.ok and len(check.problems) >= 2  # the digest and the re-run both differ
    row.institution_pool = list(reversed(row.institution_pool))
    db.session.flush()
    assert svc.verify_draw(task).ok
    member = task.visits[0].team[0]
    outsider = next(i for i in pool if i.id not in [m.inspector_id for m in task.visits[0].team])
    member.inspector_id = outsider.id
    db.session.flush()
    db.session.expire_all()
    assert not svc.verify_draw(db.session.get(InspectionTask, task.id)).ok


def test_a_regulator_draws_only_in_their_district(world):
    _pool(world, 2)
    task = _task(world, count=1)
    with pytest.raises(PermissionDenied):
        svc.draw(world.users["regulator_other"], task, "s")
    with pytest.raises(PermissionDenied):
        svc.draw(world.users["admin"], task, "s")
    svc.draw(world.users["regulator_city"], task, "s")
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "enforcement.inspection_drawn"))


# --- the task's transition table -----------------------------------------------------------------


@pytest.mark.parametrize("state", list(TaskState))
@pytest.mark.parametrize("action", list(TaskAction))
def test_task_transition_table(world, state, action):
    task = _task(world)
    task.state = state.value
    db.session.flush()
    target = svc.TRANSITIONS.get((state, action))
    if target is None:
        with pytest.raises(InvalidTransition):
            svc.TASK.next_state(task, action)
    else:
        assert svc.TASK.next_state(task, action) == target


def test_illegal_moves_are_refused_by_the_services(world):
    _pool(world, 2)
    regulator = world.users["regulator"]
    task = _task(world, count=1)
    with pytest.raises(InvalidTransition):
        svc.transition(regulator, task, "publish")  # not drawn
    svc.draw(regulator, task, "s")
    with pytest.raises(InvalidTransition):
        svc.transition(regulator, task, "close")  # not announced
    svc.transition(regulator, task, "publish")
    with pytest.raises(InvalidTransition):
        svc.draw(regulator, task, "again")  # announced: no more drawing
    with pytest.raises(ActionNotPossible):
        svc.transition(regulator, task, "close")  # a result is missing
    assert [a for a, _reason in svc.task_waiting(task, regulator)] == [TaskAction.CLOSE]
    assert svc.task_waiting(task, world.users["regulator_other"]) == []
    svc.record_visit_result(regulator, task.visits[0], outcome="compliant")
    svc.transition(regulator, task, "close")
    assert TaskState(task.state) == TaskState.CLOSED and task.closed_at is not None
    assert [a for _e, a, _s in svc.history(task)][-1] == TaskAction.CLOSE.title
    assert svc.task_actions(task, regulator) == []


# --- visits: results, 人证合一 checks, follow-ups --------------------------------------------------


def _announced(world):
    _pool(world, 2)
    task = _task(world, count=1)
    svc.draw(world.users["regulator"], task, "visit")
    svc.transition(world.users["regulator"], task, "publish")
    return task, task.visits[0]


def test_lookup_by_identity_number_certificate_number_and_name(world):
    _task_, visit = _announced(world)
    regulator = world.users["regulator"]
    cert = certificate(world, world.staff)
    by_number = svc.find_for_check(regulator, visit, id_number=world.staff.id_number.lower())
    assert by_number == [world.staff]
    assert svc.find_for_check(regulator, visit, certificate_no=cert.number.lower()) == [world.staff]
    assert svc.find_for_check(regulator, visit, name="晓雯") == [world.staff]
    # a person of another institution is not found, by any key
    assert svc.find_for_check(regulator, visit, id_number=world.staff_other.id_number) == []
    assert svc.find_for_check(regulator, visit, name="娜娜") == []
    with pytest.raises(DomainError):
        svc.find_for_check(regulator, visit, id_number=world.staff.id_number, name="张")
    logged = db.session.scalars(select(AuditLog).where(AuditLog.action == "enforcement.check_lookup")).all()
    assert logged and all(world.staff.id_number not in str(a.details) for a in logged)
    with pytest.raises(PermissionDenied):
        svc.find_for_check(world.users["regulator_other"], visit, name="张")


def test_the_check_sheet_shows_what_an_inspector_needs(world):
    _task_, visit = _announced(world)
    certificate(world, world.staff)
    db.session.add(StaffRecord(person_id=world.staff.id, kind="health_check",
                               issued_on=local_today() - timedelta(days=30), result="fit",
                               issuer="玄武区妇幼保健院", organisation_id=world.inst.id))
    registry.record_ban(DEMO, id_number=world.staff.id_number, name=world.staff.name,
                        kind="lifetime", starts_on=local_today(), ends_on=None, reason="虐童")
    sheet = svc.check_sheet(world.users["regulator"], visit, world.staff)
    assert [e.post for e in sheet.employments] == ["nursery_carer"]
    assert len(sheet.certificates) == 1 and sheet.health_check.result == "fit"
    assert sheet.ban is not None and len(sheet.hours) == 2
    with pytest.raises(NotFound):
        svc.check_sheet(world.users["regulator"], visit, world.staff_other)


def _jpeg_with_exif() -> bytes:
    out = io.BytesIO()
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    Image.new("RGB", (300, 400), (10, 120, 200)).save(out, "JPEG", exif=exif)
    return out.getvalue()


def test_a_mismatch_becomes_a_follow_up_until_resolved(world):
    _task_, visit = _announced(world)
    regulator = world.users["regulator"]
    assert svc.follow_ups(regulator) == []
    with pytest.raises(DomainError):
        svc.record_check(regulator, visit, world.staff, result="mismatch")  # say what was found
    check = svc.record_check(regulator, visit, world.staff, result="mismatch",
                             note="在岗人员与照片不符", photo=_jpeg_with_exif())
    svc.record_check(regulator, visit, world.staff, result="match")
    stored = db.session.get(IdentityCheckPhoto, check.id).data
    assert stored[:3] == b"\xff\xd8\xff" and b"PhoneMaker" not in stored
    assert svc.follow_ups(regulator) == [check]
    assert svc.follow_ups(world.users["regulator_city"]) == [check]
    assert svc.follow_ups(world.users["regulator_other"]) == []
    assert svc.home_summary(regulator)["follow_ups"] == 1
    with pytest.raises(PermissionDenied):
        svc.resolve_follow_up(world.users["regulator_other"], check, "x")
    svc.resolve_follow_up(regulator, check, "机构已更换人员并报备")
    assert svc.follow_ups(regulator) == []
    with pytest.raises(NotFound):
        svc.record_check(regulator, visit, world.staff_other, result="match")


def test_checks_and_results_wait_for_the_announcement(world):
    _pool(world, 2)
    task = _task(world, count=1)
    svc.draw(world.users["regulator"], task, "s")
    visit = task.visits[0]
    with pytest.raises(DomainError):
        svc.record_check(world.users["regulator"], visit, world.staff, result="match")
    svc.transition(world.users["regulator"], task, "publish")
    with pytest.raises(DomainError, match="deadline"):
        svc.record_visit_result(world.users["regulator"], visit, outcome="rectify",
                                findings="消毒记录缺失")
    svc.record_visit_result(world.users["regulator"], visit, outcome="rectify",
                            findings="消毒记录缺失", rectify_by=local_today() + timedelta(days=30))
    assert visit.closed_at is None and visit.rectify_by is not None


def test_the_report_of_institutions_not_inspected_this_year(world):
    orgs = _institutions(world, 2)
    _institutions(world, 1, district=world.gulou)
    _pool(world, 2)
    task = _task(world, count=1)
    svc.draw(world.users["regulator"], task, "s")
    drawn = task.visits[0].organisation_id
    rows = {r.organisation.id: r.scheduled for r in svc.not_inspected(world.users["regulator"])}
    assert set(rows) == {world.inst.id, *(o.id for o in orgs)}  # xuanwu only
    assert rows[drawn] is True and sum(rows.values()) == 1
    svc.transition(world.users["regulator"], task, "publish")
    svc.record_visit_result(world.users["regulator"], task.visits[0], outcome="compliant")
    rows = {r.organisation.id for r in svc.not_inspected(world.users["regulator"])}
    assert drawn not in rows and len(rows) == 2
    city = {r.organisation.id for r in svc.not_inspected(world.users["regulator_city"])}
    assert world.inst_other.id in city
    assert drawn in {r.organisation.id for r in svc.not_inspected(world.users["regulator"],
                                                                  this_year() - 1)}


# --- pages ---------------------------------------------------------------------------------------


ID_LIKE = re.compile(r"(?<![0-9])[1-9][0-9]{16}[0-9Xx](?![0-9])")
MOBILE_LIKE = re.compile(r"(?<![0-9])1[3-9][0-9]{9}(?![0-9])")


def test_public_notices_carry_no_personal_data(world, client):
    svc.add_item(DEMO, None, name="从业人员持证上岗情况", basis="《托育机构管理规范》",
                 draw_percent=20, frequency="每年一次", method="现场检查")
    pool = _pool(world, 2)
    pool[0].person_id = world.staff_other.id  # a registry record behind an inspector's name
    task = _task(world, count=1)
    svc.draw(world.users["regulator"], task, "public")
    svc.transition(world.users["regulator"], task, "publish")
    regulator = world.users["regulator"]
    svc.record_check(regulator, task.visits[0], world.staff, result="mismatch", note="不符")
    svc.record_visit_result(regulator, task.visits[0], outcome="rectify", findings="持证率不足",
                            rectify_by=local_today() + timedelta(days=30))
    svc.transition(regulator, task, "close")
    db.session.commit()
    pages = ["/public/inspections", f"/public/inspections/plan/{this_year()}",
             f"/public/inspections/tasks/{task.id}", f"/public/inspections/tasks/{task.id}/results"]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        text = response.get_data(as_text=True)
        assert not ID_LIKE.search(text) and not MOBILE_LIKE.search(text), url
        for person in (world.staff, world.staff_other):
            assert person.name not in text and person.id_number[-6:] not in text, url
    task_page = client.get(pages[2]).get_data(as_text=True)
    assert world.inst.name in task_page and "检查员0" in task_page and "public" in task_page
    assert "持证率不足" in client.get(pages[3]).get_data(as_text=True)


def test_a_task_not_announced_has_no_public_notice(world, client):
    _pool(world, 2)
    task = _task(world, count=1)
    svc.draw(world.users["regulator"], task, "s")
    db.session.commit()
    assert client.get(f"/public/inspections/tasks/{task.id}").status_code == 404
    assert client.get(f"/public/inspections/tasks/{task.id}/results").status_code == 404


def test_an_inspector_finds_a_person_by_post_and_records_a_check(world, client, login_as):
    task, visit = _announced(world)
    db.session.commit()
    login_as("regulator")
    page = client.get(f"/inspections/visits/{visit.id}")
    assert page.status_code == 200 and world.inst.name in page.get_data(as_text=True)
    found = client.post(f"/inspections/visits/{visit.id}/find",
                        data={"id_number": world.staff.id_number})
    assert found.status_code == 302
    location = found.headers["Location"]
    assert world.staff.id_number not in location
    assert location.endswith(f"/inspections/visits/{visit.id}/persons/{world.staff.id}")
    sheet = client.get(location).get_data(as_text=True)
    assert world.staff.name in sheet and world.staff.id_number not in sheet
    assert 'capture="environment"' in sheet and 'accept="image/*"' in sheet
    missing = client.post(f"/inspections/visits/{visit.id}/find",
                          data={"id_number": world.staff_other.id_number})
    assert "not-found" in missing.get_data(as_text=True)
    assert client.get(f"/inspections/visits/{visit.id}/persons/{world.staff_other.id}").status_code == 404
    recorded = client.post(location, data={"result": "mismatch", "note": "照片不符",
                                           "photo": (io.BytesIO(_jpeg_with_exif()), "p.jpg")},
                           content_type="multipart/form-data")
    assert recorded.status_code == 302
    home = client.get("/").get_data(as_text=True)
    assert 'id="summary-follow-ups"' in home
    follow = client.get("/inspections/follow-ups").get_data(as_text=True)
    assert world.staff.name in follow and "照片不符" in follow


def test_a_task_from_plan_to_results_through_the_pages(world, client, login_as):
    _pool(world, 2)
    db.session.commit()
    login_as("regulator")
    created = client.post("/inspections/tasks/new", data={
        "district_id": world.xuanwu.id, "year": this_year(), "title": "春季抽查", "draw_count": 1,
        "inspectors_per_institution": 2})
    assert created.status_code == 302, created.get_data(as_text=True)
    task = db.session.scalar(select(InspectionTask).where(InspectionTask.title == "春季抽查"))
    url = f"/inspections/tasks/{task.id}"
    assert client.post(f"{url}/draw", data={"seed": "web"}).status_code == 302
    assert "web" in client.get(url).get_data(as_text=True)
    assert 'id="verify-result"' in client.get(f"{url}/verify").get_data(as_text=True)
    client.post(f"{url}/act", data={"action": "publish"})
    db.session.expire_all()
    visit = db.session.get(InspectionTask, task.id).visits[0]
    client.post(f"/inspections/visits/{visit.id}/result", data={
        "outcome": "compliant", "inspected_on": local_today().isoformat()})
    client.post(f"{url}/act", data={"action": "close"})
    db.session.expire_all()
    assert TaskState(db.session.get(InspectionTask, task.id).state) == TaskState.CLOSED


def test_the_verify_command(app, world):
    from lms.enforcement.cli import verify_draw_command

    _pool(world, 2)
    task = _task(world, count=1)
    svc.draw(world.users["regulator"], task, "cli")
    db.session.commit()
    runner = app.test_cli_runner()
    ok = runner.invoke(verify_draw_command, [str(task.id)])
    assert ok.exit_code == 0 and "cli" in ok.output
    task.draw.seed = "other"
    db.session.commit()
    tampered = runner.invoke(verify_draw_command, [str(task.id)])
    assert tampered.exit_code != 0 and tampered.output.strip()
