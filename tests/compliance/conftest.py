"""Builders for the compliance tests: a person made compliant step by step."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from lms.compliance import service
from lms.core.actors import DEMO
from lms.core.clock import local_today
from lms.extensions import db
from lms.ledger import service as ledger
from lms.registry import service as registry
from lms.registry.models import QualificationType


def qualify(person, code="baoyushi", level=5, issued_on=None, expires_on=None):
    qtype = db.session.scalar(select(QualificationType).where(QualificationType.code == code))
    return registry.add_qualification(DEMO, person, qtype, issued_on=issued_on or date(2020, 1, 1),
                                      level=level if qtype.has_levels else None,
                                      expires_on=expires_on, certificate_no=f"C-{code}-{level}")


def hours(person, category, amount, ref="1"):
    ledger.credit(DEMO, person, year=local_today().year, category=category,
                  hours=Decimal(amount), source_type="external", source_ref=f"{category}-{ref}")


def staff_record(person, kind="health_check", issued_on=None, result="fit", org=None):
    """Recorded through the registry's service, as the institution's page does (`org`: the
    recording institution, the person's current employer; None records as the system)."""
    actor = DEMO
    employer = org or next((e.organisation for e in person.employments if e.end_date is None), None)
    return registry.record_staff_record(actor, employer, person, kind=kind,
                                        issued_on=issued_on or local_today(),
                                        result=result if kind == "health_check" else None,
                                        issuer="市妇幼保健院")


def make_compliant(person, org=None, code="baoyushi"):
    """Everything a person needs: certificate, hours for the whole year, health check, record."""
    qualify(person, code)
    hours(person, "skills", 72)
    hours(person, "ethics", 40)
    staff_record(person, "health_check", local_today() - timedelta(days=30), org=org)
    staff_record(person, "no_criminal_record", local_today() - timedelta(days=30), org=org)


@pytest.fixture()
def check():
    def do(person, actor=DEMO, on=None):
        return service.person_compliance(actor, person, on)
    return do
