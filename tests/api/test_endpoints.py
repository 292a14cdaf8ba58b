"""Each endpoint against its schema, for each token scope, and refused outside it."""

from __future__ import annotations

from datetime import UTC, date, timedelta

import pytest

from lms.api.schemas import (
    BanFeed,
    CertificateStatusFeed,
    CertificateVerification,
    DistrictCompliance,
    InstitutionCompliance,
    PersonStatus,
    Problem,
)
from lms.certificates import service as certificates
from lms.core.actors import DEMO
from lms.core.clock import local_today, utc_now
from lms.extensions import db
from lms.registry import service as registry
from lms.registry.models import StaffRecord
from tests.api.conftest import bearer
from tests.factories import id_number
from tests.helpers import certificate


def status_of(client, token, number, **headers):
    return client.post("/api/v1/persons/status", json={"id_number": number},
                       headers=bearer(token, **headers))


def problem(response, status: int, slug: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = Problem.model_validate(response.get_json(force=True))
    assert body.status == status and body.type.endswith(f"/api/v1/problems/{slug}")
    return response.get_json(force=True)


# --- person status --------------------------------------------------------------------------------


def test_a_district_token_sees_only_people_employed_in_its_district(client, world, tokens):
    mine, theirs = world.staff.id_number, world.staff_other.id_number
    answer = status_of(client, tokens["xuanwu"], mine)
    assert answer.status_code == 200
    body = PersonStatus.model_validate(answer.get_json())
    assert body.employments[0].institution.id == world.inst.id
    # someone else's district: exactly the answer for a number nobody has
    refused = problem(status_of(client, tokens["xuanwu"], theirs), 404, "not-found")
    unknown = problem(status_of(client, tokens["xuanwu"], id_number("320102", "19700101", 9)),
                      404, "not-found")
    assert refused == unknown
    assert status_of(client, tokens["gulou"], theirs).status_code == 200
    assert status_of(client, tokens["gulou"], mine).status_code == 404


def test_the_city_token_sees_everyone_and_the_feed_token_no_one(client, world, tokens):
    for person in (world.staff, world.staff_other):
        PersonStatus.model_validate(status_of(client, tokens["city"], person.id_number).get_json())
    problem(status_of(client, tokens["feed"], world.staff.id_number), 403, "forbidden")


def test_person_status_says_banned_certified_hours_and_health_check(client, world, tokens):
    person = world.staff
    cert = certificate(world, person)
    certificates.change_status(DEMO, cert, "suspend", "核查")
    db.session.add(StaffRecord(person_id=person.id, kind="health_check", result="fit",
                               issued_on=local_today() - timedelta(days=30), issuer="玄武区妇幼保健院",
                               organisation_id=world.inst.id))
    registry.record_ban(DEMO, id_number=person.id_number, name=person.name, kind="term",
                        starts_on=local_today() - timedelta(days=1),
                        ends_on=local_today() + timedelta(days=100), reason="违规")
    db.session.commit()
    # a lower-case x, spaces: the number is read as the registry reads it
    body = PersonStatus.model_validate(
        status_of(client, tokens["xuanwu"], f" {person.id_number.lower()} ").get_json())
    assert body.banned and body.ban.kind == "term"
    assert body.ban.until == local_today() + timedelta(days=100)
    assert [(c.number, c.state) for c in body.certificates] == [(cert.number, "suspended")]
    assert body.hours.year == local_today().year and not body.hours.met
    assert {c.category for c in body.hours.categories} == {"skills", "ethics"}
    assert body.health_check.state == "valid"
    assert body.health_check.valid_until == local_today() - timedelta(days=30) + timedelta(days=365)
    assert body.employments[0].certified_for_post is False
    # the caller sent the number; the answer never repeats it in full
    text = status_of(client, tokens["xuanwu"], person.id_number).get_data(as_text=True)
    assert person.id_number not in text and person.name not in text


def test_a_health_check_older_than_a_year_has_expired(client, world, tokens):
    db.session.add(StaffRecord(person_id=world.staff.id, kind="health_check", result="fit",
                               issued_on=local_today() - timedelta(days=400), issuer="医院"))
    db.session.commit()
    body = status_of(client, tokens["city"], world.staff.id_number).get_json()
    assert body["health_check"]["state"] == "expired"


# --- compliance -----------------------------------------------------------------------------------


def test_institution_compliance_within_scope(client, world, tokens):
    url = f"/api/v1/institutions/{world.inst.id}/compliance"
    for token in ("xuanwu", "city"):
        answer = client.get(url, headers=bearer(tokens[token]))
        body = InstitutionCompliance.model_validate(answer.get_json())
        assert (body.institution.id, body.staff, body.certified) == (world.inst.id, 1, 0)
        assert body.meets_target is False and body.target_percent == 100
    problem(client.get(url, headers=bearer(tokens["gulou"])), 403, "forbidden")
    problem(client.get(url, headers=bearer(tokens["feed"])), 403, "forbidden")
    # a training base is no institution; a number beyond any id is nothing
    problem(client.get(f"/api/v1/institutions/{world.base.id}/compliance",
                       headers=bearer(tokens["city"])), 404, "not-found")
    problem(client.get("/api/v1/institutions/99999999999999999999/compliance",
                       headers=bearer(tokens["city"])), 404, "not-found")


def test_the_figures_are_the_regulators_pages(client, world, tokens, login_as):
    certificate(world, world.staff, code="baoyushi")
    from lms.compliance import rollups
    from lms.core.actors import DEMO

    rollups.refresh(DEMO, full=True)
    db.session.commit()
    body = client.get(f"/api/v1/institutions/{world.inst.id}/compliance",
                      headers=bearer(tokens["city"])).get_json()
    login_as("regulator_city")
    page = client.get(f"/compliance/districts/{world.xuanwu.id}").get_data(as_text=True)
    assert f"{body['certified_percent']:.1f}%" in page


def test_district_compliance_within_scope(client, world, tokens):
    url = f"/api/v1/districts/{world.xuanwu.code}/compliance"
    for token in ("xuanwu", "city"):
        body = DistrictCompliance.model_validate(client.get(url, headers=bearer(tokens[token])).get_json())
        assert body.district.code == world.xuanwu.code
        assert [i.id for i in body.institutions] == [world.inst.id]
    problem(client.get(url, headers=bearer(tokens["gulou"])), 403, "forbidden")
    problem(client.get(url, headers=bearer(tokens["feed"])), 403, "forbidden")
    problem(client.get("/api/v1/districts/999999/compliance", headers=bearer(tokens["city"])),
            404, "not-found")


# --- certificates ---------------------------------------------------------------------------------


def test_certificate_verification_shows_what_the_public_page_shows(client, world, tokens):
    cert = certificate(world, world.staff)
    db.session.commit()
    url = f"/api/v1/certificates/{cert.verify_code}"
    for token in ("xuanwu", "gulou", "city"):  # the public page shows it to anyone
        body = CertificateVerification.model_validate(client.get(url, headers=bearer(tokens[token])).get_json())
        assert (body.number, body.state) == (cert.number, "valid")
        assert body.holder.id_number == "3201**********" + world.staff.id_number[-4:]
        assert body.verification_url.endswith(f"/verify/{cert.verify_code}")
    public = client.get(f"/verify/{cert.verify_code}").get_data(as_text=True)
    assert body.holder.id_number in public and body.holder.name in public
    problem(client.get(url, headers=bearer(tokens["feed"])), 403, "forbidden")
    problem(client.get("/api/v1/certificates/no-such-code", headers=bearer(tokens["city"])),
            404, "not-found")


# --- feeds ----------------------------------------------------------------------------------------


NAMES = ["王一", "李二", "赵三"]


def _bans(world, n=3):
    for i in range(n):
        registry.record_ban(DEMO, id_number=id_number("320102", "19800101", 10 + i), name=NAMES[i],
                            kind="lifetime", starts_on=local_today(), ends_on=None, reason="虐童")
    db.session.commit()


@pytest.mark.parametrize("token", ["feed", "city", "xuanwu"])
def test_the_ban_feed_pages_by_cursor(client, world, tokens, token):
    _bans(world)
    first = BanFeed.model_validate(client.get("/api/v1/bans?limit=2", headers=bearer(tokens[token])).get_json())
    assert len(first.items) == 2 and first.has_more
    second = BanFeed.model_validate(client.get(f"/api/v1/bans?limit=2&cursor={first.next_cursor}",
                                               headers=bearer(tokens[token])).get_json())
    assert len(second.items) == 1 and not second.has_more
    assert {b.name for b in first.items + second.items} == set(NAMES)
    # nothing new yet: the same cursor comes back, to ask again later
    third = client.get(f"/api/v1/bans?cursor={second.next_cursor}", headers=bearer(tokens[token])).get_json()
    assert third == {"items": [], "next_cursor": second.next_cursor, "has_more": False}


def test_the_ban_feed_reads_changes_since_a_time_and_shows_lifting(client, world, tokens):
    _bans(world, 1)
    later = (utc_now() + timedelta(minutes=5)).replace(tzinfo=UTC).isoformat()
    assert client.get(f"/api/v1/bans?changed_since={later.replace('+', '%2B')}",
                      headers=bearer(tokens["feed"])).get_json()["items"] == []
    earlier = (utc_now() - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    items = client.get(f"/api/v1/bans?changed_since={earlier}", headers=bearer(tokens["feed"])).get_json()["items"]
    assert [(i["kind"], i["in_force"], i["until"]) for i in items] == [("lifetime", True, None)]
    # a time without its offset is no RFC 3339 time
    problem(client.get("/api/v1/bans?changed_since=2026-01-01T00:00:00", headers=bearer(tokens["feed"])),
            400, "bad-request")
    problem(client.get("/api/v1/bans?cursor=bm90LWEtY3Vyc29y", headers=bearer(tokens["feed"])),
            400, "bad-request")


def test_the_certificate_status_feed_lists_state_changes(client, world, tokens):
    cert = certificate(world, world.staff)
    certificates.change_status(DEMO, cert, "suspend", "核查")
    certificates.change_status(DEMO, cert, "revoke", "伪造")
    db.session.commit()
    body = CertificateStatusFeed.model_validate(
        client.get("/api/v1/certificate-status", headers=bearer(tokens["feed"])).get_json())
    assert [(i.certificate_number, i.to_state) for i in body.items] == [
        (cert.number, "suspended"), (cert.number, "revoked")]
    assert world.staff.id_number not in client.get(
        "/api/v1/certificate-status", headers=bearer(tokens["feed"])).get_data(as_text=True)


def test_a_term_ban_ends(client, world, tokens):
    registry.record_ban(DEMO, id_number=world.staff.id_number, name=world.staff.name, kind="term",
                        starts_on=date(2020, 1, 1), ends_on=date(2021, 1, 1), reason="x")
    db.session.commit()
    body = status_of(client, tokens["city"], world.staff.id_number).get_json()
    assert body["banned"] is False and body["ban"] is None
