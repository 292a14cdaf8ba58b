"""Dated settings with history and district overrides."""

from datetime import date
from decimal import Decimal

import pytest

from lms.core.errors import DomainError
from lms.core.models import AuditLog
from lms.core.settings import get_setting, history, set_setting
from lms.extensions import db


def test_defaults_when_nothing_recorded(world):
    assert get_setting("hours.skills_required") == 72
    assert get_setting("hours.ethics_required") == 40
    assert get_setting("certification.target_percent") == Decimal("100")


def test_dated_values_and_district_override(world):
    admin = world.users["admin"]
    set_setting(admin, "certification.target_percent", "80", date(2025, 1, 1))
    set_setting(admin, "certification.target_percent", "90", date(2026, 1, 1))
    set_setting(admin, "certification.target_percent", "100", date(2026, 1, 1),
                district_id=world.xuanwu.id)
    db.session.commit()
    assert get_setting("certification.target_percent", None, date(2024, 6, 1)) == 100  # default
    assert get_setting("certification.target_percent", None, date(2025, 6, 1)) == 80
    assert get_setting("certification.target_percent", None, date(2026, 6, 1)) == 90
    assert get_setting("certification.target_percent", world.gulou.id, date(2026, 6, 1)) == 90
    assert get_setting("certification.target_percent", world.xuanwu.id, date(2026, 6, 1)) == 100
    # before the district's own value starts, the city's applies
    assert get_setting("certification.target_percent", world.xuanwu.id, date(2025, 6, 1)) == 80
    assert [h.value for h in history("certification.target_percent")][:2] == ["100", "90"]
    assert db.session.query(AuditLog).filter_by(action="setting.set").count() == 3


def test_money_setting_is_decimal(world):
    set_setting(world.users["admin"], "subsidies.second_approval_threshold", "2500.50",
                date(2026, 1, 1))
    value = get_setting("subsidies.second_approval_threshold", None, date(2026, 2, 1))
    assert value == Decimal("2500.50") and isinstance(value, Decimal)


@pytest.mark.parametrize("value, words", [
    ("abc", "must be a number"), ("72.5", "whole number"), ("-1", "between"), ("NaN", "number"),
])
def test_bad_values_refused(world, value, words):
    with pytest.raises(DomainError, match=words):
        set_setting(world.users["admin"], "hours.skills_required", value, date(2026, 1, 1))


def test_admin_edits_settings_in_the_app(client, world, login_as):
    login_as("admin")
    response = client.post("/admin/settings", data={
        "key": "hours.ethics_required", "value": "48", "effective_from": "2026-01-01",
        "district_id": str(world.gulou.id), "note": "区级加码"}, follow_redirects=True)
    assert response.status_code == 200
    assert get_setting("hours.ethics_required", world.gulou.id, date(2026, 3, 1)) == 48
    assert get_setting("hours.ethics_required", world.xuanwu.id, date(2026, 3, 1)) == 40
    bad = client.post("/admin/settings", data={
        "key": "hours.ethics_required", "value": "lots", "effective_from": "2026-01-01",
        "district_id": "0"})
    assert "must be a number" in bad.get_data(as_text=True)
