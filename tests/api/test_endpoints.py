"""Each endpoint against its schema, for each token scope, and refused outside it."""

from __future__ import annotations

import re
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
from lms.compliance.service import health_check_lapses_on
from lms.core.actors import DEMO
from lms.core.clock import local_today, utc_now
from lms.extensions import db
from lms.registry import service as registry
from lms.registry.models import Employment, StaffRecord
from tests.api.conftest import bearer
from tests.factories import id_number
from tests.helpers import certificate


def refreshed() -> None:
    """The compliance snapshots recomputed, as the nightly job does."""
    from lms.compliance import rollups

    rollups.refresh(DEMO, full=True)
    db.session.commit()


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
    assert (body.ban.category, body.ban.state) == ("other", "in_force")
    assert [(c.number, c.state) for c in body.certificates] == [(cert.number, "suspended")]
    assert body.hours.year == local_today().year and not body.hours.met
    assert {c.category for c in body.hours.categories} == {"skills", "ethics"}
    assert body.health_check.state == "valid"
    # the compliance rule: a check counts for the district's months (12 unless changed)
    checked = local_today() - timedelta(days=30)
    assert body.health_check.checked_on == checked
    assert body.health_check.valid_until == health_check_lapses_on(
        StaffRecord(kind="health_check", result="fit", issued_on=checked), 12)
    assert checked + timedelta(days=365) <= body.health_check.valid_until <= checked + timedelta(days=366)
    assert body.employments[0].certified_for_post is False
    assert body.employments[0].missing  # what would satisfy the post
    # the compliance service's verdict, gap by gap
    assert body.compliant is False and body.criminal_record_on_file is False
    codes = {g.code for g in body.gaps}
    assert {"banned", "post_uncertified", "record_missing"} <= codes
    assert "health_missing" not in codes and all(g.message for g in body.gaps)
    for c in body.hours.categories:
        assert c.on_track == (c.hours >= c.expected) and c.expected <= c.required
    # the caller sent the number; the answer never repeats it in full
    text = status_of(client, tokens["xuanwu"], person.id_number).get_data(as_text=True)
    assert person.id_number not in text and person.name not in text


def test_a_health_check_older_than_a_year_has_expired(client, world, tokens):
    db.session.add(StaffRecord(person_id=world.staff.id, kind="health_check", result="fit",
                               issued_on=local_today() - timedelta(days=400), issuer="医院"))
    db.session.commit()
    body = status_of(client, tokens["city"], world.staff.id_number).get_json()
    assert body["health_check"]["state"] == "expired"
    assert "health_lapsed" in [g["code"] for g in body["gaps"]]


def test_a_district_token_does_not_see_a_leaver(client, world, tokens):
    """Employed in the district once, elsewhere now: the district's token answers 404."""
    staff = world.staff
    employment = db.session.scalars(db.select(Employment).where(
        Employment.person_id == staff.id, Employment.end_date.is_(None))).one()
    registry.end_employment(DEMO, employment, local_today() - timedelta(days=1), "离职")
    registry.add_staff(DEMO, world.inst_other, id_number=staff.id_number, name=staff.name,
                       post="infant_carer", start_date=local_today())
    db.session.commit()
    problem(status_of(client, tokens["xuanwu"], staff.id_number), 404, "not-found")
    body = PersonStatus.model_validate(status_of(client, tokens["gulou"], staff.id_number).get_json())
    assert [e.institution.id for e in body.employments] == [world.inst_other.id]


# --- compliance -----------------------------------------------------------------------------------


def test_institution_compliance_within_scope(client, world, tokens):
    url = f"/api/v1/institutions/{world.inst.id}/compliance"
    # before the first refresh there is no snapshot: nothing counted, and as_of says so
    body = InstitutionCompliance.model_validate(
        client.get(url, headers=bearer(tokens["city"])).get_json())
    assert (body.staff, body.certified_percent, body.as_of) == (0, None, None)
    refreshed()
    for token in ("xuanwu", "city"):
        answer = client.get(url, headers=bearer(tokens[token]))
        body = InstitutionCompliance.model_validate(answer.get_json())
        assert (body.institution.id, body.staff, body.certified) == (world.inst.id, 1, 0)
        assert body.meets_target is False and body.target_percent == 100
        assert body.as_of is not None and body.as_of.tzinfo is not None
        assert answer.get_json()["as_of"].endswith("Z") or "+00:00" in answer.get_json()["as_of"]
        assert (body.rates.criminal_record_on_file.count, body.banned_employed) == (0, 0)
    problem(client.get(url, headers=bearer(tokens["gulou"])), 403, "forbidden")
    problem(client.get(url, headers=bearer(tokens["feed"])), 403, "forbidden")
    # a training base is no institution; a number beyond any id is nothing
    problem(client.get(f"/api/v1/institutions/{world.base.id}/compliance",
                       headers=bearer(tokens["city"])), 404, "not-found")
    problem(client.get("/api/v1/institutions/99999999999999999999/compliance",
                       headers=bearer(tokens["city"])), 404, "not-found")


RATE_NAMES = ("certified", "hours_on_track", "health_current", "criminal_record_on_file")


def _text(html: str) -> str:
    return re.sub(r"<[^>]+>", "", html).strip()


def _shown(rate) -> str:
    """A rate as the compliance pages print it."""
    return "—" if rate.percent is None else f"{rate.percent:.1f}%"


def test_the_figures_are_the_regulators_pages(client, world, tokens, login_as):
    # two people at the institution: one certified with a current health check, one banned
    certificate(world, world.staff, code="baoyushi")
    db.session.add(StaffRecord(person_id=world.staff.id, kind="health_check", result="fit",
                               issued_on=local_today() - timedelta(days=30), issuer="医院",
                               organisation_id=world.inst.id))
    other = registry.add_staff(DEMO, world.inst, id_number=id_number("320102", "19920101", 4),
                               name="钱四", mobile="13900000004", post="nursery_carer",
                               start_date=date(2024, 1, 1))
    person = db.session.get(type(world.staff), other.employment.person_id)
    registry.record_ban(DEMO, id_number=person.id_number, name=person.name, kind="lifetime",
                        starts_on=local_today(), ends_on=None, reason="虐童")
    db.session.commit()
    refreshed()
    inst = InstitutionCompliance.model_validate(client.get(
        f"/api/v1/institutions/{world.inst.id}/compliance", headers=bearer(tokens["city"])).get_json())
    district = DistrictCompliance.model_validate(client.get(
        f"/api/v1/districts/{world.xuanwu.code}/compliance", headers=bearer(tokens["city"])).get_json())
    assert (inst.staff, inst.certified, inst.rates.health_current.count, inst.banned_employed) == (2, 1, 1, 1)
    assert inst.certified_percent == 50.0 and inst.banned_staff == 1
    assert district.institutions[0].model_dump(exclude={"id", "name", "district", "as_of"}) == \
        inst.model_dump(exclude={"institution", "as_of", "banned_staff"})

    login_as("regulator_city")
    page = client.get(f"/compliance/districts/{world.xuanwu.id}").get_data(as_text=True)
    # the district's headline
    headline = dict(re.findall(r'<div class="stat" data-rate="(\w+)">(.*?)</div>', page, re.S))
    assert {k: _text(v) for k, v in headline.items()} == \
        {n: _shown(getattr(district.rates, n)) for n in RATE_NAMES}
    assert _text(re.search(r'id="banned-employed">(.*?)</div>', page).group(1)) == \
        str(district.banned_employed) == "1"
    assert _text(re.search(r'id="multi-institution">(.*?)</div>', page).group(1)) == \
        str(district.multi_institution)
    # the institution's row in the district's table
    row = re.search(r'<tr data-people="\d+">\s*<td[^>]*><a [^>]*>' + re.escape(world.inst.name)
                    + r"</a></td>(.*?)</tr>", page, re.S)
    cells = [_text(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.S)]
    assert cells == [str(inst.staff), *[_shown(getattr(inst.rates, n)) for n in RATE_NAMES],
                     str(inst.banned_employed), str(inst.multi_institution)]
    # the institution's own page (computed from the records: the same after the refresh)
    page = client.get(f"/compliance/institutions/{world.inst.id}").get_data(as_text=True)
    stats = [_text(s) for s in re.findall(r'<div class="stat">(.*?)</div>', page, re.S)]
    assert stats == [_shown(getattr(inst.rates, n)) for n in RATE_NAMES]


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


def test_the_ban_feed_is_the_credit_feeds_rows(client, world, tokens):
    """Both doors read the same query: the same bans in the same order, with category and
    state; the API adds its own cursor and shape."""
    from lms.enforcement import credit_feed

    _bans(world)
    registry.record_ban(DEMO, id_number=id_number("320102", "19800101", 20), name="孙五",
                        kind="term", starts_on=local_today(), ends_on=local_today() + timedelta(days=30),
                        reason="虐童", category="child_abuse", decision_ref="玄卫罚〔2026〕9号")
    db.session.commit()
    items = BanFeed.model_validate(
        client.get("/api/v1/bans", headers=bearer(tokens["feed"])).get_json()).items
    rows, _cursor = credit_feed.credit_feed(world.users["regulator_city"],
                                            utc_now() - timedelta(days=1), kind="bans")
    assert [(i.id, i.category, i.state) for i in items] == \
        [(r["ban_id"], r["category"], r["state"]) for r in rows]
    assert (items[-1].category, items[-1].state, items[-1].decision_ref) == \
        ("child_abuse", "in_force", "玄卫罚〔2026〕9号")


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
