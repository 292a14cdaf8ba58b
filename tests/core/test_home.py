"""Home sections and header entries are declared by each package and registered by create_app."""

from __future__ import annotations

import re
import subprocess
import sys

import lms
from tests.conftest import login, make_app


def _base_home(application) -> str:
    client = application.test_client()
    assert login(client, "base_staff").status_code == 302
    page = client.get("/").get_data(as_text=True)
    return re.sub(r'name="csrf_token" value="[^"]*"', "", page)


def test_base_staff_home_shows_the_registry_and_the_scheduling_sections(app, world):
    page = _base_home(app)
    # the registry's section: which base, which district
    assert world.base.name in page and world.base.district.name in page
    # scheduling's section: what is coming up and how to plan more
    assert "The next seven days" in page and "Schedule a session" in page
    assert page.index(world.base.name) < page.index("The next seven days")


def test_registration_order_does_not_decide_what_the_home_shows(app, world, monkeypatch):
    expected = _base_home(app)
    monkeypatch.setattr(lms, "HOME_SECTIONS", tuple(reversed(lms.HOME_SECTIONS)))
    monkeypatch.setattr(lms, "NAVIGATION", tuple(reversed(lms.NAVIGATION)))
    assert _base_home(make_app()) == expected


def test_import_order_does_not_decide_what_the_home_shows():
    # scheduling imported before the registry: under the old wrapping, whoever came last won
    script = (
        "import lms.scheduling.views, lms.subsidies.views, lms.learning.views, lms.registry.views\n"
        "from lms import create_app\n"
        "app = create_app({'SQLALCHEMY_DATABASE_URI': 'sqlite://'})\n"
        "sections = app.extensions['lms.pages']['home']\n"
        "for role in ('base_staff', 'caregiver', 'hr_reviewer', 'institution_admin'):\n"
        "    found = sorted((s.order, s.template) for s in sections if s.role == role)\n"
        "    print(role, ' '.join(t for _o, t in found))\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True, env={"SECRET_KEY": "x", "LMS_DEMO_KEYS": "1", "PATH": ""}).stdout
    assert out.splitlines() == [
        "base_staff auth/home_second_factor.html registry/home_organisation.html "
        "scheduling/home_base.html",
        "caregiver registry/home_caregiver.html learning/home_caregiver.html",
        "hr_reviewer auth/home_second_factor.html registry/home_organisation.html "
        "subsidies/home_reviewer.html",
        "institution_admin enforcement/bans/_home.html registry/home_institution.html "
        "compliance/home_institution.html "
        "ledger/home_institution.html "
        "registry/home_institution_staff.html",
    ]


def test_every_role_home_renders_its_sections_once(client, world, login_as):
    for name, words in [("inst_admin", ["小橡树托育中心", "Class hours in", "Add staff member"]),
                        ("hr_reviewer", ["人社局", "Claims to review"]),
                        ("regulator", ["玄武区", "Registry lookup"]),
                        ("admin", ["System administration"])]:
        login_as(name)
        page = client.get("/").get_data(as_text=True)
        for word in words:
            assert page.count(word) >= 1, (name, word)
        assert page.count("<h1") == 1, name
        client.post("/logout")
    login_as(world.staff.mobile)
    page = client.get("/").get_data(as_text=True)
    assert "Your posts" in page and "Continue studying" in page and page.count("<h1") == 1
