"""Benchmark: certificate PDFs per second, one at a time and two at a time.

Not a pytest test. Run from the project root:

    .venv/bin/python tests/bench/bench_certificates.py [--count 40]

It migrates a temporary SQLite database, issues COUNT certificates through the services
(a base, a sitting, candidates with passing scores), then makes their PDFs with the same
function `flask certificates render` uses: one at a time, then two at a time (two
wkhtmltopdf processes, one per core). Each PDF is a real wkhtmltopdf render (CJK fonts, the holder's details, a QR code).
Target (printed, not asserted): at least 1 PDF per second per core.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=40)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="lms-bench-pdf-"))
    os.environ.update(LMS_INSTANCE_PATH=str(workdir), SECRET_KEY="bench-only-secret",  # noqa: S105
                      LMS_DEFAULT_LOCALE="en", DATABASE_URL=f"sqlite:///{workdir / 'bench.sqlite3'}")
    sys.path.insert(0, str(ROOT))
    from datetime import date, datetime, timedelta
    from decimal import Decimal

    from flask_migrate import upgrade
    from sqlalchemy import select, update

    from lms import create_app
    from lms.auth.models import User
    from lms.catalog.service import import_courses
    from lms.certificates import service as certificates
    from lms.certificates.models import Certificate
    from lms.core.actors import SystemActor
    from lms.core.clock import local_today, utc_now
    from lms.core.models import District
    from lms.exams import service as exams
    from lms.extensions import db
    from lms.learning.models import Enrolment
    from lms.registry import service as registry
    from lms.registry.models import QualificationType
    from tests.factories import credit_code, id_number
    from tests.factories import venue as base_venue

    app = create_app()
    with app.app_context():
        upgrade()
        registry.ensure_reference_data()
        import_courses(SystemActor("bench"), ROOT / "courses")
        district = District(code="320102", name="玄武区", city="南京市")
        db.session.add(district)
        db.session.flush()
        inst = registry.create_organisation("bench", kind="institution", name="基准托育园",
                                            district=district, credit_code=credit_code(1), filing_no="B-1")
        base = registry.create_organisation("bench", kind="training_base", name="基准实训基地",
                                            district=district, credit_code=credit_code(2))
        staff = User(username="examiner", display_name="考评员", role="base_staff", organisation_id=base.id,
                     must_change_password=False)
        db.session.add(staff)
        db.session.flush()
        qtype = db.session.scalar(select(QualificationType).where(QualificationType.code == "yuyingyuan"))
        sitting = exams.plan_sitting(staff, base, exams.SittingPlan(
            qualification_type=qtype, level=5, venue=base_venue(base, "考场"), examiners=[staff], duration_minutes=60,
            starts_at=datetime.combine(local_today() + timedelta(days=1), datetime.min.time()),
            blueprint={"single": 5}))
        course = next(c for c in __import__("lms.catalog.service", fromlist=["x"]).active_courses()
                      if "yuyingyuan" in c.serves)
        names = "甲乙丙丁戊己庚辛壬癸"
        for n in range(args.count):
            person = registry.add_staff("bench", inst, id_number=id_number("320102", "19900101", n + 1),
                                        name="学员" + names[n % 10] + names[n // 10 % 10],
                                        post="infant_carer", start_date=date(2025, 1, 1)).employment.person
            db.session.add(Enrolment(person_id=person.id, course_id=course.id, completed_at=utc_now()))
            registration = exams.register(staff, sitting, person)
            registration.theory_score = Decimal(90)
            exams.enter_practical(staff, registration, "90", now=sitting.starts_at + timedelta(minutes=1))
            certificates.issue(staff, registration)
        db.session.commit()
        ids = certificates.missing_pdfs()
        print(f"certificate PDFs: {len(ids)} certificates, {os.cpu_count()} cores")
        results = {}
        for workers in (1, 2):
            db.session.execute(update(Certificate).values(pdf=None, pdf_version=None))
            db.session.commit()
            started = time.perf_counter()
            made = certificates.render_many(ids, workers=workers)
            seconds = time.perf_counter() - started
            results[workers] = made / seconds
            print(f"  {workers} at a time: {made} PDFs in {seconds:.1f} s = "
                  f"{results[workers]:.2f} PDFs/s ({results[workers] / workers:.2f} per core used)")
        size = db.session.scalar(select(Certificate.pdf).limit(1))
        print(f"  a PDF is {len(size) // 1024} KB; two at a time is {results[2] / results[1]:.2f}x one")
        per_core = results[2] / 2
        print(f"  target >= 1 PDF per second per core: {'met' if per_core >= 1 else 'NOT met'} "
              f"({per_core:.2f} per core, two at a time)")


if __name__ == "__main__":
    main()
