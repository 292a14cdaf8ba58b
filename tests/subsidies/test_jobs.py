"""Subsidies' jobs: a large export is made by a job for the reviewer who asked (the same file as
the direct download, for them only), and HR is told once when a public notice has ended
(claim-notice-ended, daily)."""

from __future__ import annotations

import io
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import openpyxl
import time_machine
from sqlalchemy import func, select

from lms.auth.models import Role, User
from lms.core import jobs
from lms.core.clock import utc_now
from lms.core.models import Notification
from lms.extensions import db
from lms.jobs import SCHEDULE
from lms.subsidies import service
from lms.subsidies.models import ClaimAction, SubsidyNotice
from tests.conftest import _HASH, login
from tests.helpers import certificate, claim_for

CITY = ZoneInfo("Asia/Shanghai")


def _approved(world, count=2):
    claims = []
    for n, person in enumerate((world.staff, world.staff_other)[:count]):
        claim = claim_for(world, certificate(world, person, level=5 - n))
        service.transition(world.users["base_staff"], claim, ClaimAction.CONFIRM)
        service.transition(world.users["hr_reviewer"], claim, ClaimAction.APPROVE)
        claims.append(claim)
    db.session.commit()
    return claims


def _reviewer(name, district=None):
    user = User(username=name, display_name=name, role=Role.HR_REVIEWER.value, password_hash=_HASH,
                must_change_password=False, district_id=district.id if district else None)
    db.session.add(user)
    db.session.commit()
    return user


def _rows(data: bytes) -> list[tuple]:
    return list(openpyxl.load_workbook(io.BytesIO(data)).active.iter_rows(values_only=True))


def test_a_large_export_is_made_by_a_job_for_the_reviewer_who_asked(app, client, world, login_as,
                                                                     monkeypatch):
    _approved(world)
    url = "/subsidies/review/export.xlsx?state=payable"
    login_as("hr_reviewer")
    direct = client.get(url)
    assert direct.status_code == 200 and len(_rows(direct.data)) == 4  # header, 2 claims, total
    monkeypatch.setitem(app.config, "EXPORT_JOB_ROWS", 1)
    # the link says how big the export is and starts nothing; its button (a POST) starts the job
    asked = client.get(url)
    assert asked.status_code == 200 and "This export has 2 rows." in asked.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(jobs.Job).where(
        jobs.Job.kind == "subsidies.export")) == 0
    response = client.post(url)
    assert response.status_code == 302 and "/jobs/" in response.location
    job = db.session.scalar(select(jobs.Job).where(jobs.Job.kind == "subsidies.export"))
    assert job.state == "done" and job.result["rows"] == 2
    page = client.get(response.location).get_data(as_text=True)
    assert "Download the file" in page and "2 rows" in page
    made = client.get(f"/jobs/{job.id}/download")
    assert made.status_code == 200 and made.headers["Cache-Control"] == "no-store"
    assert _rows(made.data) == _rows(direct.data)  # the same claims, amounts and totals row
    # another reviewer with the very same scope may not have it, nor an administrator
    _reviewer("hr_two")
    for other in ("hr_two", "admin"):
        stranger = app.test_client()
        login(stranger, other)
        assert stranger.get(f"/jobs/{job.id}/download").status_code == 403
    # the file goes with the purge of old job files, a week on
    with time_machine.travel(utc_now().replace(tzinfo=UTC) + timedelta(days=8), tick=False):
        result = app.test_cli_runner().invoke(args=["jobs", "run", "purge-job-inputs"])
    assert result.exit_code == 0, result.output
    assert "'outputs': 1" in result.output
    assert client.get(f"/jobs/{job.id}/download").status_code == 404


def test_an_export_under_the_threshold_is_the_file_itself(client, world, login_as):
    _approved(world, count=1)
    login_as("hr_reviewer")
    assert client.get("/subsidies/review/export.xlsx?state=payable").status_code == 200
    assert db.session.scalar(select(func.count()).select_from(jobs.Job).where(
        jobs.Job.kind == "subsidies.export")) == 0


def _notes(user) -> list[Notification]:
    return list(db.session.scalars(select(Notification).where(
        Notification.user_id == user.id, Notification.kind == "subsidy.notice_ended")))


def test_hr_is_told_once_when_a_notice_has_ended(app, world):
    claims = _approved(world)
    notice, _outcome = service.publish(world.users["hr_reviewer"], [c.id for c in claims])
    service.record_objection(world.users["hr_reviewer"], claims[1], "有异议", notice.starts_on)
    db.session.commit()
    xuanwu, gulou = _reviewer("hr_xuanwu", world.xuanwu), _reviewer("hr_gulou_only", world.gulou)
    claims[1].district_id = world.gulou.id  # one claim of each district
    db.session.commit()
    assert "claim-notice-ended" in SCHEDULE

    def run(day):
        with time_machine.travel(datetime.combine(day, time(8), tzinfo=CITY), tick=False):
            result = app.test_cli_runner().invoke(args=["jobs", "run", "claim-notice-ended"])
        assert result.exit_code == 0, result.output
        db.session.expire_all()
        return result.output

    assert "'notices': 0" in run(notice.ends_on)  # its last day: objections still come in
    assert _notes(world.users["hr_reviewer"]) == []
    assert "'notices': 1" in run(notice.ends_on + timedelta(days=1))
    city_wide = _notes(world.users["hr_reviewer"])
    assert len(city_wide) == 1 and city_wide[0].params["payable"] == "1" \
        and city_wide[0].params["held"] == "1" and city_wide[0].link.startswith("/subsidies/review")
    assert [n.params["payable"] for n in _notes(xuanwu)] == ["1"]
    assert [n.params["held"] for n in _notes(gulou)] == ["1"]
    assert db.session.get(SubsidyNotice, notice.id).end_reported_at is not None
    # the next days' runs tell no one again
    assert "'notices': 0" in run(notice.ends_on + timedelta(days=2))
    assert len(_notes(world.users["hr_reviewer"])) == 1 and len(_notes(xuanwu)) == 1
    run_record = db.session.scalar(select(jobs.Job).where(jobs.Job.kind == "subsidies.notice_ended")
                                   .order_by(jobs.Job.id.desc()))
    assert run_record.state == "done"
