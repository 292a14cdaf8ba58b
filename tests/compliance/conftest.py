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
from tests.factories import id_number


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


def _staff(world, n, name):
    return registry.add_staff(DEMO, world.inst, id_number=id_number("320102", "19900101", 40 + n),
                              name=name, post="nursery_carer", start_date=date(2025, 1, 1)
                              ).employment.person


@pytest.fixture()
def every_gap(world):
    """People at world.inst between them with every gap and the warning."""
    today = local_today()
    make_compliant(world.staff, world.inst)
    banned = _staff(world, 1, "甲禁")
    make_compliant(banned, world.inst)
    registry.record_ban(DEMO, id_number=banned.id_number, name=banned.name, kind="lifetime",
                        starts_on=today, ends_on=None, reason="虐童")
    lapsed = _staff(world, 2, "乙逾")  # uncertified, behind on hours, lapsed, no record
    hours(lapsed, "skills", 1)
    staff_record(lapsed, issued_on=today - timedelta(days=400), org=world.inst)
    unfit = _staff(world, 3, "丙病")
    make_compliant(unfit, world.inst)
    staff_record(unfit, issued_on=today, result="unfit", org=world.inst)
    qualify(unfit, "health_cert", expires_on=today + timedelta(days=30))
    double = _staff(world, 4, "丁兼")
    make_compliant(double, world.inst)
    registry.add_staff(DEMO, world.inst_other, id_number=double.id_number, name=double.name,
                       post="finance", start_date=date(2025, 1, 1))
    _staff(world, 5, "戊新")  # nothing on file
    return world.inst


def reference_gaps(org, on=None):
    """The institution's rows as the rules answer them from the records: every person with
    every message, the posts of this institution."""
    people = [pc.person for pc in service.staff_compliance(DEMO, org, on, served=False)]
    out = {}
    for pid, pc in service.compliance_for(DEMO, people, on).items():
        pc.posts = [p for p in pc.posts if p.employment.organisation_id == org.id]
        out[pid] = [(g.code, g.severity, g.message) for g in service._gaps(pc)]
    return out
