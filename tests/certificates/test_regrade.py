"""Once a result has a certificate, its scores change only through a recorded re-grade that
re-evaluates the certificate; the ordinary score entry refuses."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from lms.certificates import service
from lms.certificates.models import CertificateRegrade
from lms.core.errors import DomainError, PermissionDenied
from lms.exams import service as exams
from lms.extensions import db
from lms.registry import service as registry


def test_score_entry_refuses_once_the_result_is_certified(world, passed, cert, client, login_as):
    sitting, good, _bad = passed
    assert good.certified_at is not None
    with pytest.raises(DomainError, match="re-grade"):
        exams.enter_practical(world.users["base_staff"], good, "30",
                              now=sitting.starts_at + timedelta(minutes=5))
    db.session.rollback()
    login_as("base_staff")
    page = client.post(f"/exams/{sitting.id}/practical/{good.id}", data={"score": "30"},
                       follow_redirects=True).get_data(as_text=True)
    assert "re-grade" in page
    db.session.refresh(good)
    assert good.practical_score == Decimal("90") and good.result == "passed" and cert.status == "valid"


def test_a_regrade_that_fails_the_result_revokes_the_certificate(world, passed, cert):
    sitting, good, _bad = passed
    base = world.users["base_staff"]
    with pytest.raises(DomainError, match="Give the reason"):
        service.regrade(base, cert, practical="40", reason="")
    row = service.regrade(base, cert, practical="40", reason="复核发现评分错误")
    assert (row.practical_before, row.practical_after, row.result_before, row.result_after) == (
        Decimal("90"), Decimal("40"), "passed", "failed")
    assert (row.outcome, row.actor_id, row.reason) == ("revoked", base.id, "复核发现评分错误")
    assert (cert.status, cert.status_authority) == ("revoked", "regrade")
    event = service.history(cert)[-1]
    assert (event.action, event.authority, event.reason) == ("revoke", "regrade", "复核发现评分错误")
    assert not registry.satisfies_post(world.staff, "nursery_carer").satisfied
    db.session.refresh(good)
    assert good.result == "failed" and good.practical_score == Decimal("40")


def test_a_regrade_that_still_passes_leaves_the_certificate_and_is_recorded(world, passed, cert):
    row = service.regrade(world.users["admin"], cert, practical="75", theory="80", reason="复核")
    assert row.outcome == "unchanged" and cert.status == "valid"
    assert (row.theory_before, row.theory_after) == (Decimal("85"), Decimal("80"))
    assert db.session.scalars(select(CertificateRegrade)).all() == [row]
    with pytest.raises(DomainError, match="Give the new score"):
        service.regrade(world.users["admin"], cert, reason="复核")


def test_only_the_issuing_base_or_an_administrator_regrades(world, cert):
    for role in ("regulator", "inst_admin", "caregiver", "hr_reviewer"):
        with pytest.raises(PermissionDenied):
            service.regrade(world.users[role], cert, practical="40", reason="x")
    assert cert.status == "valid"


def test_the_regrade_form_on_the_certificates_page(world, passed, cert, client, login_as):
    login_as("base_staff")
    page = client.get(f"/certificates/{cert.id}").get_data(as_text=True)
    assert 'id="regrade-form"' in page
    response = client.post(f"/certificates/{cert.id}/regrade",
                           data={"practical": "50", "reason": "复核发现评分错误"}, follow_redirects=True)
    text = response.get_data(as_text=True)
    assert response.status_code == 200 and "The certificate was revoked" in text
    assert "复核发现评分错误" in text.split('id="regrades"')[1]
    db.session.refresh(cert)
    assert cert.status == "revoked"
    bad = client.post(f"/certificates/{cert.id}/regrade", data={"practical": "abc", "reason": "x"})
    assert "A score is a number" in bad.get_data(as_text=True)
