"""The credit feed: bans and certificate status changes since a time, in pages with a stable
cursor, as JSON and CSV, with full identity numbers for the city regulator only (audited,
downloaded by POST, never a number in a URL)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from lms.certificates import service as certificates
from lms.core.actors import DEMO
from lms.core.clock import local_today, utc_now
from lms.core.errors import DomainError, PermissionDenied
from lms.core.models import AuditLog
from lms.enforcement import credit_feed as feed
from lms.enforcement.cli import credit_feed_command
from lms.extensions import db
from lms.registry import service as registry
from tests.factories import id_number
from tests.helpers import certificate

pytestmark = pytest.mark.usefixtures("app")

SINCE = datetime(2026, 1, 1, tzinfo=UTC)


def _bans(n: int) -> list:
    """n bans recorded a day apart, the oldest first (two share a time: the id breaks the tie)."""
    bans = []
    start = utc_now() - timedelta(days=n + 1)
    for i in range(n):
        ban = registry.record_ban(DEMO, id_number=id_number("320102", "19850101", 10 + i),
                                  name="禁业" + "甲乙丙丁戊己"[i], kind="lifetime", starts_on=local_today(),
                                  ends_on=None, reason="虐童", decision_ref=f"玄卫罚〔2026〕{i}号")
        ban.created_at = start + timedelta(days=i if i != 2 else 1)
        bans.append(ban)
    db.session.flush()
    return bans


def test_pages_follow_a_stable_cursor_to_the_end(world):
    bans = _bans(5)
    city = world.users["regulator_city"]
    seen, cursor, pages = [], None, 0
    while True:
        rows, cursor = feed.credit_feed(city, SINCE, kind="bans", after_cursor=cursor, limit=2)
        seen += rows
        pages += 1
        if cursor is None:
            break
    assert pages == 3 and len(seen) == 5
    assert [r["ban_id"] for r in seen] == [bans[0].id, bans[1].id, bans[2].id, bans[3].id,
                                          bans[4].id]
    assert seen[0]["id_number"] == bans[0].id_number  # the platform matches by the full number
    assert seen[0]["status"] == "in_force" and seen[0]["decision_ref"] == "玄卫罚〔2026〕0号"
    assert (seen[0]["category"], seen[0]["state"]) == ("other", "in_force")
    # since leaves out what came before
    since = bans[3].created_at.replace(tzinfo=UTC)
    rows, _ = feed.credit_feed(city, since, kind="bans")
    assert [r["ban_id"] for r in rows] == [bans[3].id, bans[4].id]
    # a time without an offset is the city's wall clock (8 hours ahead of UTC)
    local = (bans[3].created_at + timedelta(hours=8))
    assert [r["ban_id"] for r in feed.credit_feed(city, local, kind="bans")[0]] == [bans[3].id,
                                                                                   bans[4].id]
    with pytest.raises(DomainError):
        feed.credit_feed(city, SINCE, kind="bans", after_cursor="garbage")


def test_a_lifted_ban_comes_again_with_its_new_state(world):
    bans = _bans(2)
    city = world.users["regulator_city"]
    rows, _ = feed.credit_feed(city, SINCE, kind="bans")
    last = rows[-1]["changed_at"]
    bans[0].lifted_at = utc_now()
    db.session.flush()
    rows, _ = feed.credit_feed(city, datetime.fromisoformat(last) + timedelta(microseconds=1),
                               kind="bans")
    assert [(r["ban_id"], r["status"]) for r in rows] == [(bans[0].id, "lifted")]


def test_certificate_status_changes(world):
    cert = certificate(world, world.staff)
    certificates.change_status(DEMO, cert, "suspend", "核查中")
    certificates.change_status(DEMO, cert, "reinstate", "核查无误")
    rows, cursor = feed.credit_feed(world.users["regulator_city"], SINCE, kind="certificates")
    assert cursor is None
    assert [(r["action"], r["from_state"], r["to_state"]) for r in rows] == [
        ("suspend", "valid", "suspended"), ("reinstate", "suspended", "valid")]
    assert rows[0]["certificate_number"] == cert.number
    assert rows[0]["id_number"] == world.staff.id_number and rows[0]["holder_name"] == "张晓雯"
    first, cursor = feed.credit_feed(world.users["regulator_city"], SINCE, kind="certificates",
                                     limit=1)
    second, end = feed.credit_feed(world.users["regulator_city"], SINCE, kind="certificates",
                                   after_cursor=cursor, limit=1)
    assert first + second == rows and end is None


def test_csv_and_json(world):
    _bans(3)
    city = world.users["regulator_city"]
    data, mimetype, name = feed.export(city, SINCE, "bans", "csv")
    assert mimetype == "text/csv" and name.endswith(".csv") and data.startswith(b"\xef\xbb\xbf")
    table = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert len(table) == 3 and list(table[0]) == feed.BAN_FIELDS and table[0]["ends_on"] == ""
    data, mimetype, _name = feed.export(city, SINCE, "bans", "json")
    parsed = json.loads(data)
    assert parsed["count"] == 3 and parsed["rows"][0]["name"] == "禁业甲"
    with pytest.raises(DomainError):
        feed.export(city, SINCE, "bans", "xml")


def test_only_the_city_regulator_reads_it_and_every_read_is_logged(world):
    ban = _bans(1)[0]
    for role in ("regulator", "regulator_other", "admin", "inst_admin", "caregiver"):
        with pytest.raises(PermissionDenied):
            feed.credit_feed(world.users[role], SINCE)
    feed.credit_feed(world.users["regulator_city"], SINCE)
    entry = db.session.scalar(select(AuditLog).where(AuditLog.action == "enforcement.credit_feed_read"))
    assert entry.details["rows"] == 1 and ban.id_number not in json.dumps(entry.details)


def test_the_command(app, world):
    ban = _bans(1)[0]
    db.session.commit()
    runner = app.test_cli_runner()
    out = runner.invoke(credit_feed_command, ["--since", "2026-01-01T00:00:00+08:00",
                                              "--format", "csv"])
    assert out.exit_code == 0, out.output
    assert ban.id_number in out.output and "ban_id" in out.output
    bad = runner.invoke(credit_feed_command, ["--since", "yesterday"])
    assert bad.exit_code != 0


def test_the_download_page(world, client, login_as):
    ban = _bans(1)[0]
    db.session.commit()
    login_as("regulator_city")
    assert client.get("/credit-feed").status_code == 200
    response = client.post("/credit-feed", data={"since": "2026-01-01T00:00", "kind": "bans",
                                                 "format": "json"})
    assert response.status_code == 200
    assert "attachment" in response.headers["Content-Disposition"]
    assert json.loads(response.data)["rows"][0]["id_number"] == ban.id_number
    assert response.headers["Cache-Control"] == "no-store"
