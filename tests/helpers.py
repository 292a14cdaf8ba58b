"""Helpers shared by test modules (test modules never import each other; fixtures stay in
conftest.py): running threads at once for race tests, building certificates and claims, and
the browser journeys' sign-in, overflow and accessibility checks, counting the statements a
call sends."""

from __future__ import annotations

import itertools
import json
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, time, timedelta
from decimal import Decimal

from playwright.sync_api import Page, expect
from sqlalchemy import event, select

from lms.core.actors import system_actor
from lms.core.clock import local_today
from lms.extensions import db
from tests.conftest import PASSWORD

#: what the tests' own set-up acts as (never a bare string)
TESTS = system_actor("tests")



@contextmanager
def statements_sent() -> Iterator[list[str]]:
    """The SQL statements sent to the database inside the block, in order."""
    sent: list[str] = []

    def record(_conn, _cursor, statement, *_args):
        sent.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


# --- races ----------------------------------------------------------------------------------------


def at_once(app, work: Callable, arguments: Sequence, timeout: float = 60) -> list:
    """Run `work(argument, go)` in one thread per argument, each in its own app context and
    session. Each thread prepares what it needs, then calls `go()`; the threads wait there until
    all are ready and then race. Returns what each call returned, or the exception it raised,
    in the order of `arguments`."""
    barrier = threading.Barrier(len(arguments), timeout=timeout)
    outcomes: list = [None] * len(arguments)

    def run(index, argument):
        with app.app_context():
            try:
                outcomes[index] = work(argument, barrier.wait)
            except Exception as err:  # noqa: BLE001 - handed back to the test
                db.session.rollback()
                outcomes[index] = err
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i, a)) for i, a in enumerate(arguments)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


# --- certificates and subsidy claims --------------------------------------------------------------

ACCOUNT = "6222 0212 3456 7890 123"
_serial = itertools.count(1)


def qtype(code="baoyushi"):
    from lms.registry.models import QualificationType

    return db.session.scalar(select(QualificationType).where(QualificationType.code == code))


def certificate(world, person, level=5, issued_on=None, code="baoyushi", status="valid"):
    """A certificate issued by world.base, and the registry's record of it (as `issue` leaves
    them; the exam that earned it is not what these tests are about)."""
    from lms.certificates import service as certificates
    from lms.certificates.models import Certificate
    from lms.registry import service as registry

    issued_on = issued_on or local_today() - timedelta(days=10)
    kind = qtype(code)
    number = certificates.certificate_number(kind, issued_on.year, world.base.id, next(_serial))
    record = registry.add_qualification(TESTS, person, kind, issued_on=issued_on,
                                        level=level or None, certificate_no=number,
                                        issuer=world.base.name)
    cert = Certificate(number=number, verify_code=f"v{number}", person_id=person.id,
                       qualification_type_id=kind.id, level=level, issuer_id=world.base.id,
                       issued_on=issued_on, status=status, qualification_id=record.id, version=1)
    db.session.add(cert)
    db.session.flush()
    return cert


def claim_for(world, cert, **kw):
    """The holder's own subsidy claim for `cert`."""
    from lms.subsidies import service

    return service.submit(world.users["caregiver"] if cert.person_id == world.staff.id
                          else world.users["caregiver_other"], cert, bank_name="工商银行玄武支行",
                          bank_account=ACCOUNT, **kw)


def exam_sitting(world, level=5, starts=None):
    """A theory-and-practical sitting at world.base, next week at 09:00 the city's time."""
    from lms.exams import service as exams
    from tests.factories import venue

    staff = world.users["base_staff"]
    starts = starts or datetime.combine(local_today() + timedelta(days=7), time(9))
    return exams.plan_sitting(staff, world.base, exams.SittingPlan(
        qualification_type=qtype(), level=level, starts_at=starts, duration_minutes=30,
        venue=venue(world.base), examiners=[staff], blueprint={"single": 2}))


def exam_result(world, sitting, person, theory, practical):
    """`person` registered for `sitting`, with these scores."""
    from lms.exams import service as exams

    registration = exams.register(world.users["base_staff"], sitting, person)
    registration.theory_score = Decimal(theory)
    exams.enter_practical(world.users["base_staff"], registration, practical,
                          now=sitting.starts_at + timedelta(minutes=1))
    return registration


# --- browser journeys -----------------------------------------------------------------------------

#: axe-core is served by the live server from this test-only path, so that it loads as a
#: same-origin script under the app's CSP (script-src 'self'); an inline <script> is refused.
AXE_URL = "/__e2e__/axe.min.js"

#: the two viewports every journey runs at
VIEWPORTS = {
    "desktop": {"viewport": {"width": 1280, "height": 800}},
    "phone": {"viewport": {"width": 375, "height": 812}, "is_mobile": True, "has_touch": True,
              "device_scale_factor": 2},
}

#: axe "serious" violations that come from the application's templates and are reported to
#: the team instead of failing a journey: rule id -> (the container the nodes are in, why).
#: Any other serious violation, or this one anywhere else, fails.
KNOWN_SERIOUS: dict[str, tuple[str, str]] = {}


def sign_in(page: Page, identifier: str = "inst_admin") -> None:
    page.goto("/login")
    page.fill("#identifier", identifier)
    page.fill("#password", PASSWORD)
    page.click("main form[method=post] button[type=submit]")
    expect(page).not_to_have_url(re.compile(r"/login"))
    page.wait_for_load_state("load")  # Bootstrap's deferred script drives the menus
    expect(page.locator("#login-error")).to_have_count(0)


def no_horizontal_overflow(page: Page) -> None:
    # the layout as the reader gets it: after the stylesheets and fonts, not while a page that
    # just replaced the last one (a form's redirect) is still being styled
    page.wait_for_load_state("load")
    sizes = page.evaluate("({scroll: document.documentElement.scrollWidth, inner: window.innerWidth,"
                          " client: document.documentElement.clientWidth})")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), sizes
    assert sizes["inner"] == page.viewport_size["width"], sizes  # no zoom-out hiding overflow
    wide = page.evaluate("""() => [...document.querySelectorAll('body *')]
        .filter(el => el.getBoundingClientRect().right > window.innerWidth + 0.5)
        .map(el => el.outerHTML.slice(0, 120))""")
    assert not wide, wide


def axe_check(page: Page, base_url: str, label: str, findings: list) -> None:
    """Run axe-core on the page: no critical violation; serious ones only if known (reported)."""
    page.add_script_tag(url=base_url + AXE_URL)
    known = {rule: container for rule, (container, _why) in KNOWN_SERIOUS.items()}
    violations = page.evaluate("""async (known) => {
        const r = await axe.run(document, {resultTypes: ['violations']});
        const inside = (target, container) => {
            const el = target.length === 1 ? document.querySelector(target[0]) : null;
            return !!(container && el && el.closest(container));
        };
        return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.map(n => ({target: n.target.join(' '), html: n.html,
                                       summary: n.failureSummary,
                                       known: inside(n.target, known[v.id])}))}));
    }""", known)
    for v in violations:
        findings.append({"page": label, **v})
        if v["impact"] in ("critical", "serious"):
            print(f"\naxe {v['impact']} on {label}: {v['id']} — {v['help']}")
            for node in v["nodes"][:5]:
                print(f"    {node['target']}: {node['html'][:200]}")
    critical = [v for v in violations if v["impact"] == "critical"]
    assert not critical, json.dumps(critical, ensure_ascii=False, indent=1)
    serious = [v for v in violations
               if v["impact"] == "serious" and not all(n["known"] for n in v["nodes"])]
    assert not serious, json.dumps(serious, ensure_ascii=False, indent=1)
