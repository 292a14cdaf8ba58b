"""The ban pages: the two-step impose form (the number only ever POSTed), the detail page with its
history, the four-eyes forms, the list and its filters, the evidence download."""

from __future__ import annotations

import io
from datetime import date, timedelta

from sqlalchemy import func, select

from lms.core.actors import DEMO
from lms.core.clock import local_today
from lms.extensions import db
from lms.registry import service as registry
from lms.registry.models import Ban, BanLiftRequest
from tests.factories import id_number

PDF = b"%PDF-1.4 decision"
EN = {"Accept-Language": "en"}


def _form(world, **kw):
    return {"id_number": world.staff.id_number, "incident_date": (local_today() - timedelta(days=2)).isoformat(),
            "name": world.staff.name, "category": "child_abuse", "kind": "lifetime", "ends_on": "",
            "authority": "玄武区卫生健康委员会", "decision_no": "玄卫禁〔2026〕3号",
            "decision_date": local_today().isoformat(), "reason": "虐待幼儿", **kw}


def _director(world):
    return registry.add_staff(DEMO, world.inst, id_number=id_number("320102", "19800101", 31), name="李园长",
                              post="director", start_date=date(2020, 1, 1)).employment.person


def test_impose_in_two_steps_with_the_direct_manager(world, client, login_as):
    director = _director(world)
    db.session.commit()
    login_as("regulator")
    assert client.get("/bans/new", headers=EN).status_code == 200
    looked = client.post("/bans/new", data={**_form(world), "step": "lookup"}, headers=EN)
    assert looked.status_code == 200
    page = looked.text
    assert 'id="candidate-name"' in page and world.staff.name in page
    assert f'name="managers" value="{director.id}"' in page and "李园长" in page
    assert world.staff.id_number not in looked.request.url

    done = client.post("/bans/new", headers=EN, content_type="multipart/form-data", data={
        **_form(world), "step": "impose", "managers": str(director.id),
        "evidence": (io.BytesIO(PDF), "决定书.pdf")})
    assert done.status_code == 302, done.text[:2000]
    first = db.session.scalar(select(Ban).where(Ban.id_number == world.staff.id_number))
    assert done.headers["Location"].endswith(f"/bans/{first.id}")
    detail = client.get(f"/bans/{first.id}", headers=EN).text
    assert 'id="ban-state">In force' in detail and "李园长" in detail and 'id="lift-form"' in detail
    assert world.staff.id_number not in detail  # masked
    evidence = client.get(f"/bans/{first.id}/evidence")
    assert evidence.data == PDF and "sandbox" in evidence.headers["Content-Security-Policy"]
    listed = client.get("/bans?category=child_abuse", headers=EN).text
    assert f'href="/bans/{first.id}"' in listed and "李园长" in listed
    assert "No bans match." in client.get("/bans?category=ethics", headers=EN).text


def test_a_refused_form_keeps_what_was_typed_and_saves_nothing(world, client, login_as):
    _director(world)
    db.session.commit()
    login_as("regulator")
    page = client.post("/bans/new", headers=EN, content_type="multipart/form-data", data={
        **_form(world, kind="term"), "step": "impose", "evidence": (io.BytesIO(PDF), "d.pdf")})
    assert page.status_code == 200
    assert "A ban for a term needs its end date." in page.text and "李园长" in page.text
    assert db.session.scalar(select(func.count(Ban.id))) == 0
    bad = client.post("/bans/new", headers=EN, data={"id_number": "123", "step": "lookup"})
    assert bad.status_code == 200 and 'id="candidate"' not in bad.text


def test_four_eyes_on_the_pages(world, client, login_as):
    login_as("regulator")
    client.post("/bans/new", content_type="multipart/form-data", data={
        **_form(world), "step": "impose", "evidence": (io.BytesIO(PDF), "d.pdf")})
    ban = db.session.scalar(select(Ban))
    asked = client.post(f"/bans/{ban.id}/lift", data={"reason": "复议撤销", "action": "lift"},
                        headers=EN, follow_redirects=True).text
    assert "a second regulator must approve it" in asked and 'id="four-eyes-note"' in asked
    assert 'id="decide-form"' not in asked
    request_id = db.session.scalar(select(BanLiftRequest.id).where(BanLiftRequest.ban_id == ban.id))
    same = client.post(f"/bans/requests/{request_id}/decide", data={"reason": "同意", "action": "approve"},
                       headers=EN, follow_redirects=True).text
    assert "a second, different regulator must decide it" in same
    assert 'id="ban-state">In force' in same
    client.post("/logout")
    login_as("regulator_city")
    page = client.get(f"/bans/{ban.id}", headers=EN).text
    assert 'id="decide-approve"' in page and 'id="decide-refuse"' in page
    home = client.get("/", headers=EN).text
    assert 'id="ban-alerts"' in home and "Requests awaiting your decision" in home
    approved = client.post(f"/bans/requests/{request_id}/decide",
                           data={"reason": "复议决定书已核实", "action": "approve"}, headers=EN,
                           follow_redirects=True).text
    assert 'id="ban-state">Lifted' in approved and "Certificates stay suspended" in approved
    assert "Approve" in approved.split('id="history"')[1]


def test_another_districts_regulator_neither_sees_nor_acts(world, client, login_as):
    ban = registry.record_ban(world.users["regulator"], id_number=id_number("320102", "19800101", 32),
                              name="某某", kind="lifetime", starts_on=local_today(), ends_on=None,
                              reason="虐童", district_id=world.xuanwu.id)
    db.session.commit()
    login_as("regulator_other")
    assert client.get(f"/bans/{ban.id}").status_code == 403
    assert client.post(f"/bans/{ban.id}/lift", data={"reason": "x", "action": "lift"}).status_code == 403
    assert f'href="/bans/{ban.id}"' not in client.get("/bans").text
