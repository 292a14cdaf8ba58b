"""Three languages: Simplified Chinese by default, Traditional Chinese and English complete."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from tests.conftest import login, make_app

ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")


@pytest.fixture(scope="module")
def zh_app():
    return make_app(BABEL_DEFAULT_LOCALE="zh_Hans_CN")


def test_simplified_chinese_is_the_default(zh_app):
    page = zh_app.test_client().get("/login").get_data(as_text=True)
    assert '<html lang="zh-Hans">' in page and "登录" in page


@pytest.mark.parametrize("header, lang, word", [
    ("zh-CN,zh;q=0.9", "zh-Hans", "登录"), ("zh-TW", "zh-Hant", "登入"), ("zh-HK", "zh-Hant", "登入"),
    ("en-US,en;q=0.8", "en", "Sign in"), ("fr-FR", "zh-Hans", "登录"),
])
def test_browser_language_is_honoured(zh_app, header, lang, word):
    page = zh_app.test_client().get("/login", headers={"Accept-Language": header})
    text = page.get_data(as_text=True)
    assert f'<html lang="{lang}">' in text and word in text


def test_the_switch_is_remembered(zh_app, world):
    client = zh_app.test_client()
    response = client.post("/lang/zh_Hant_TW", data={"next": "/login"})
    assert response.headers["Location"] == "/login"
    assert "登入" in client.get("/login").get_data(as_text=True)
    login(client, "inst_admin")
    assert "從業人員" in client.get(f"/institutions/{world.inst.id}/staff").get_data(as_text=True)
    client.post("/lang/en")
    assert "Staff" in client.get(f"/institutions/{world.inst.id}/staff").get_data(as_text=True)
    assert client.post("/lang/xx").status_code == 404
    assert client.post("/lang/en", data={"next": "https://evil.example/"}).headers["Location"] == "/"


def test_a_get_never_switches_the_language(zh_app, world):
    """A link (or an <img> on another site) cannot change a user's stored language."""
    from lms.auth.models import User
    from lms.extensions import db

    client = zh_app.test_client()
    login(client, "inst_admin")
    assert client.get("/lang/en?next=/login").status_code == 405
    assert client.get_cookie("lms_lang") is None
    assert db.session.get(User, world.users["inst_admin"].id).locale is None


def test_the_switch_needs_the_csrf_token(world):
    from tests.conftest import make_app

    client = make_app(WTF_CSRF_ENABLED=True).test_client()
    assert client.post("/lang/en").status_code == 400
    page = client.get("/login").get_data(as_text=True)
    assert 'action="/lang/en"' in page
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    response = client.post("/lang/en", data={"csrf_token": token, "next": "/login"})
    assert response.headers["Location"] == "/login" and client.get_cookie("lms_lang").value == "en"


def test_errors_from_services_are_translated(zh_app, world):
    client = zh_app.test_client()
    login(client, "inst_admin")
    page = client.post(f"/institutions/{world.inst.id}/staff/new", data={
        "id_number": "11010519491231002Y", "name": "张三", "post": "nursery_carer",
        "start_date": "2025-01-01"}).get_data(as_text=True)
    assert "最后一位" in page or "末位" in page or "最后一个字符" in page


def _catalog(locale):
    with open(ROOT / "translations" / locale / "LC_MESSAGES" / "messages.po", "rb") as fh:
        return read_po(fh)


def test_catalogs_cover_every_string_in_the_code(tmp_path):
    pot = tmp_path / "messages.pot"
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "-q", "extract",
                    "-F", str(ROOT / "babel.cfg"), "-k", "_l", "-k", "lazy_gettext",
                    "-o", str(pot), str(ROOT)], check=True, cwd=ROOT)
    with open(pot, "rb") as fh:
        wanted = {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(fh) if m.id}
    for locale in ("zh_Hans_CN", "zh_Hant_TW", "en"):
        have = {m.id if isinstance(m.id, str) else m.id[0] for m in _catalog(locale) if m.id}
        missing = sorted(wanted - have)
        assert not missing, f"{locale}: run `make extract-messages` and translate: {missing[:10]}"


@pytest.mark.parametrize("locale", ["zh_Hans_CN", "zh_Hant_TW"])
def test_chinese_catalogs_are_complete_and_placeholders_match(locale):
    problems = []
    for m in _catalog(locale):
        if not m.id:
            continue
        ids = m.id if isinstance(m.id, tuple) else (m.id,)
        strings = m.string if isinstance(m.string, tuple) else (m.string,)
        for s in strings:
            if not s or m.fuzzy:
                problems.append(("untranslated", ids[0]))
            elif set(PLACEHOLDER.findall(s)) != set(PLACEHOLDER.findall(ids[0])):
                problems.append(("placeholders", ids[0]))
    assert not problems, problems[:10]
