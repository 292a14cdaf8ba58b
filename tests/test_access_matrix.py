"""Every route, as every role: who may use it. A route missing from MATRIX fails the test,
so a new view cannot ship without deciding who sees it."""


import pytest
from sqlalchemy import select

from lms.core.actors import DEMO
from lms.core.clock import local_today
from lms.extensions import db
from lms.registry import service
from lms.registry.models import PostRequirement
from tests.access import MATRIX, ROLES, TOKEN_AUTHENTICATED, _learning_world, _photo, _values
from tests.conftest import PASSWORD, build_world, login

#: the permission let these through and the view then said no: starting the study clock
#: answers 409 to a learner not enrolled, saving an exam answer 400 to an empty request, a job's
#: download 404 while the job has made no file
REACHED = {"learning.study_start": (200, 409), "exams.save_answer": (400,),
           "jobs.download": (404,)}


def _routes(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        method = "GET" if "GET" in rule.methods else "POST"
        yield rule, method


def test_every_route_is_in_the_matrix(app):
    endpoints = {rule.endpoint for rule, _ in _routes(app)}
    assert endpoints == set(MATRIX), (
        f"new routes: {sorted(endpoints - set(MATRIX))}; gone: {sorted(set(MATRIX) - endpoints)}")


def _request(client, method, url):
    return client.get(url) if method == "GET" else client.post(url, data={})


@pytest.mark.parametrize("endpoint", sorted(MATRIX))
def test_access(app, endpoint):
    world = build_world()
    service.set_photo(DEMO, world.staff, _photo())
    service.set_photo(DEMO, world.staff_other, _photo())
    rule_id = db.session.scalar(select(PostRequirement.id).limit(1))
    extra = _learning_world(world)
    db.session.commit()
    rule = next(r for r, _ in _routes(app) if r.endpoint == endpoint)
    method = next(m for r, m in _routes(app) if r.endpoint == endpoint)
    url = rule.build({k: v for k, v in _values(world, rule_id, extra).items() if k in rule.arguments},
                     append_unknown=False)[1]
    # admin last: its POSTs (disable, reset) would change the other roles' accounts
    for role in ROLES:
        client = app.test_client()
        if role != "anon":
            identifier = world.users[role].username or _caregiver_login(world, role)
            assert login(client, identifier, PASSWORD).status_code == 302, role
        response = _request(client, method, url)
        allowed = endpoint in MATRIX and role in MATRIX[endpoint]
        location = response.headers.get("Location", "")
        if allowed:
            assert response.status_code in REACHED.get(endpoint, (200, 302)), (
                endpoint, role, response.status_code)
            assert not location.startswith("/login?next="), (endpoint, role, location)
        elif endpoint in TOKEN_AUTHENTICATED:
            # a session (or none) is no API credential: a problem document, never a login page
            assert response.status_code == 401, (endpoint, role, response.status_code)
            assert response.mimetype == "application/problem+json", (endpoint, role)
        elif role == "anon":
            assert response.status_code == 302 and location.startswith("/login?next="), (endpoint, role)
        else:
            assert response.status_code == 403, (endpoint, role, response.status_code)


def _caregiver_login(world, role):
    person = world.staff if role == "caregiver" else world.staff_other
    return person.mobile


# --- changing an id in the URL ----------------------------------------------------------------


def test_an_institution_cannot_read_another_institutions_staff(client, world, login_as):
    login_as("inst_admin")
    inst, other = world.inst, world.inst_other
    assert client.get(f"/institutions/{other.id}/staff").status_code == 403
    assert client.get(f"/institutions/{other.id}/staff/{world.staff_other.id}").status_code == 403
    # its own institution id with a foreign person id: still no
    assert client.get(f"/institutions/{inst.id}/staff/{world.staff_other.id}").status_code == 403
    assert client.post(f"/institutions/{inst.id}/staff/{world.staff_other.id}/reveal").status_code == 403
    foreign = world.staff_other.employments[0]
    response = client.post(f"/institutions/{inst.id}/employments/{foreign.id}/end",
                           data={"end_date": local_today().isoformat(), "reason": "x"})
    assert response.status_code == 403
    db.session.refresh(foreign)
    assert foreign.end_date is None
    assert client.get(f"/institutions/{inst.id}/staff/999999").status_code == 404


def test_a_district_regulator_sees_only_their_district(client, world, login_as):
    login_as("regulator_other")  # 鼓楼区
    assert client.get(f"/institutions/{world.inst.id}/staff").status_code == 403
    assert client.get(f"/registry/persons/{world.staff.id}").status_code == 403
    assert client.get(f"/institutions/{world.inst_other.id}/staff").status_code == 200
    assert client.get(f"/registry/persons/{world.staff_other.id}").status_code == 200
    # the institutions list is the compliance dashboard now: the regulator's own district
    page = client.get("/registry/institutions", follow_redirects=True).get_data(as_text=True)
    assert world.inst_other.name in page and world.inst.name not in page


def test_a_caregiver_sees_only_their_own_record(client, world, login_as):
    login_as(world.staff.mobile)
    page = client.get("/me").get_data(as_text=True)
    assert world.staff.name in page and world.staff_other.name not in page
    assert client.get(f"/registry/persons/{world.staff_other.id}").status_code == 403


def test_identity_numbers_never_appear_in_urls(app, world, login_as, client):
    """Lookups by identity number are POSTed; no route takes one as a parameter."""
    for rule in app.url_map.iter_rules():
        assert not {"id_number", "id", "number"} & set(rule.arguments), rule
    login_as("regulator")
    response = client.post("/registry/lookup", data={"id_number": world.staff.id_number.lower(),
                                                     "name": world.staff.name})
    assert response.status_code == 302
    assert response.headers["Location"] == f"/registry/persons/{world.staff.id}"
    assert world.staff.id_number not in response.headers["Location"]


def test_an_anonymous_visitor_cannot_tell_which_ids_exist(app, world):
    """Sign-in is asked before anything is loaded: an existing and a missing id answer alike."""
    client = app.test_client()
    for existing, missing in [
        (f"/institutions/{world.inst.id}/staff", "/institutions/999999/staff"),
        (f"/registry/persons/{world.staff.id}", "/registry/persons/999999"),
        (f"/institutions/{world.inst.id}/staff/{world.staff.id}",
         f"/institutions/{world.inst.id}/staff/999999"),
    ]:
        known, unknown = client.get(existing), client.get(missing)
        assert known.status_code == unknown.status_code == 302, (existing, missing)
        assert known.headers["Location"].startswith("/login?next=")
        assert unknown.headers["Location"].startswith("/login?next=")
