"""An administrator issues a token on the page (shown once), sees when it was last used, and
revokes it; the token works for its client until then."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from lms.api import tokens as token_service
from lms.api.models import ApiClient, ApiToken
from lms.core.clock import local_today
from lms.core.errors import DomainError, PermissionDenied
from lms.core.models import AuditLog
from lms.extensions import db
from tests.api.conftest import bearer

TOKEN = re.compile(r"lms_[A-Za-z0-9]{12}_[A-Za-z0-9_-]{43}")


def test_the_token_lifecycle_on_the_admin_page(client, world, login_as):
    login_as("admin")
    expires = (local_today() + timedelta(days=90)).isoformat()
    page = client.post("/admin/api-clients", data={
        "name": "玄武区智慧托育平台", "scope": "district", "district": str(world.xuanwu.id),
        "expires_on": expires})
    assert page.status_code == 200
    shown = TOKEN.findall(page.get_data(as_text=True))
    assert len(shown) == 1
    token = shown[0]
    # stored as a hash only, and never shown again
    row = db.session.scalar(select(ApiToken))
    assert token not in (row.token_hash, row.prefix) and len(row.token_hash) == 64
    listing = client.get("/admin/api-clients").get_data(as_text=True)
    assert token not in listing and f"lms_{row.prefix}_" in listing
    assert "Never" in listing
    # the client uses it within its scope
    url = f"/api/v1/institutions/{world.inst.id}/compliance"
    assert client.get(url, headers=bearer(token)).status_code == 200
    assert client.get(f"/api/v1/institutions/{world.inst_other.id}/compliance",
                      headers=bearer(token)).status_code == 403
    listing = client.get("/admin/api-clients").get_data(as_text=True)
    assert "Never" not in listing
    # revoked: it stops working at once
    assert client.post(f"/admin/api-tokens/{row.id}/revoke").status_code == 302
    assert client.get(url, headers=bearer(token)).status_code == 401
    actions = set(db.session.scalars(select(AuditLog.action)))
    assert {"api.client_created", "api.token_issued", "api.token_revoked"} <= actions


def test_a_client_gets_another_token_to_rotate(client, world, login_as, tokens):
    login_as("admin")
    city = db.session.scalar(select(ApiClient).where(ApiClient.scope == "city"))
    page = client.post(f"/admin/api-clients/{city.id}/tokens",
                       data={"expires_on": (local_today() + timedelta(days=5)).isoformat()})
    fresh = TOKEN.findall(page.get_data(as_text=True))
    assert len(fresh) == 1 and fresh[0] != tokens["city"]
    for token in (fresh[0], tokens["city"]):  # both work until the old one is revoked
        assert client.get("/api/v1/bans", headers=bearer(token)).status_code == 200


def test_the_page_refuses_what_makes_no_sense(client, world, login_as, tokens):
    login_as("admin")
    tomorrow = (local_today() + timedelta(days=1)).isoformat()
    for data, message in [
        ({"name": "甲", "scope": "district", "expires_on": tomorrow}, "needs its district"),
        ({"name": "乙", "scope": "city", "district": str(world.xuanwu.id), "expires_on": tomorrow},
         "needs its district"),
        ({"name": "丙", "scope": "city", "expires_on": local_today().isoformat()}, "after today"),
        ({"name": "人社局支付系统", "scope": "city", "expires_on": tomorrow}, "exists"),
    ]:
        page = client.post("/admin/api-clients", data=data).get_data(as_text=True)
        assert message in page and not TOKEN.search(page), data
    assert db.session.scalar(select(db.func.count(ApiClient.id))) == 4


def test_only_administrators_manage_tokens(world):
    for role in ("regulator_city", "inst_admin", "caregiver"):
        with pytest.raises(PermissionDenied):
            token_service.issue_client(world.users[role], name="x", scope="city", district=None,
                                       expires_on=local_today() + timedelta(days=3))


def test_a_revoked_token_cannot_be_revoked_twice(world, tokens):
    row = db.session.scalar(select(ApiToken).limit(1))
    token_service.revoke_token(world.users["admin"], row)
    with pytest.raises(DomainError):
        token_service.revoke_token(world.users["admin"], row)
