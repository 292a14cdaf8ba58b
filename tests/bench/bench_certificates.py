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
    from sqlalchemy import select, update

    from lms import create_app
    from lms.auth.models import User
    from lms.certificates import service as certificates
    from lms.certificates.models import Certificate
    from lms.core.actors import SystemActor
    from lms.exams.models import Registration
    from lms.extensions import db
    from tests.bench.bench_batch_job import seed

    # the candidates of the batch benchmark (one sitting, all passed), issued here in one go
    seeded = seed(args.count)
    bench = SystemActor("bench")
    app = create_app()
    with app.app_context():
        staff = db.session.get(User, seeded["staff_id"])
        for registration in db.session.scalars(select(Registration).where(
                Registration.id.in_(seeded["registration_ids"]))):
            certificates.issue(staff, registration)
        db.session.commit()
        ids = certificates.missing_pdfs()
        print(f"certificate PDFs: {len(ids)} certificates, {os.cpu_count()} cores")
        results = {}
        for workers in (1, 2):
            db.session.execute(update(Certificate).values(pdf=None, pdf_version=None))
            db.session.commit()
            started = time.perf_counter()
            made = certificates.render_many(bench, ids, workers=workers)
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
