"""Issue 12 and 13 for the registry: every gate holds whoever knocks.

Digits of other scripts never make a second person; one institution cannot take over
another's people; lookups give no oracle; services authorise the actor; employments move
only through their table; the form and the roster apply one validation.
"""

from __future__ import annotations

import importlib.util
from datetime import UTC, date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import func, select

from lms.auth.models import User
from lms.certificates.models import Certificate
from lms.core.actors import DEMO
from lms.core.clock import local_today
from lms.core.errors import DomainError, PermissionDenied
from lms.core.excel import write_xlsx
from lms.core.idnumber import IdNumberError, MobileError
from lms.core.models import AuditLog, StateEvent
from lms.core.states import InvalidTransition
from lms.extensions import db
from lms.ledger.service import identify
from lms.registry import roster, service
from lms.registry.models import (
    EmploymentAction,
    EmploymentState,
    Person,
    QualificationType,
)
from tests.conftest import login, make_app
from tests.core.test_idnumber import FOREIGN_DIGITS, _with_foreign_digit
from tests.factories import id_number

CITY = ZoneInfo("Asia/Shanghai")
HEADERS = [names[0] for names in roster.COLUMNS.values()]


def persons() -> int:
    return db.session.scalar(select(func.count(Person.id)))


# --- digits of other scripts through every door ------------------------------------------------


def test_a_banned_number_in_other_digits_never_passes_as_someone_else(world):
    banned = id_number("320106", "19850612", 4)
    service.record_ban(DEMO, id_number=banned, name="孙某", kind="lifetime",
                       starts_on=date(2025, 1, 1), ends_on=None, reason="虐待婴幼儿")
    db.session.commit()
    before = persons()
    for digit in FOREIGN_DIGITS:
        disguised = _with_foreign_digit(banned, digit, 16)
        with pytest.raises(IdNumberError, match="only the digits 0-9"):
            service.add_staff(world.users["inst_admin"], world.inst, id_number=disguised,
                              name="孙某", post="nursery_carer", start_date=date(2025, 1, 1))
        with pytest.raises(IdNumberError):
            service.check_not_banned(service.normalise_id_number(disguised))
        with pytest.raises(DomainError):  # exam registration and external hours identify so
            identify(disguised, "孙某")
    assert persons() == before


def test_a_roster_refuses_every_row_in_other_digits(world):
    base = id_number("320104", "19900101", 2)
    rows = [["孙某", _with_foreign_digit(base, digit, 9), "", "保育员", "2024-03-01", "否"]
            for digit in FOREIGN_DIGITS]
    result = roster.import_roster(world.users["inst_admin"], world.inst,
                                  write_xlsx(HEADERS, rows, text_columns={1, 2}),
                                  max_rows=len(rows))
    assert not result.ok
    refused = {e.row for e in result.errors if e.column == "id_number"
               and "only the digits 0-9" in e.message}
    assert len(refused) == len(FOREIGN_DIGITS)


def test_a_mobile_in_other_digits_is_refused_by_the_form(world):
    with pytest.raises(MobileError):
        service.add_staff(world.users["inst_admin"], world.inst,
                          id_number=id_number("320104", "19900101", 4), name="李静",
                          mobile="139\u0661\u06622345678", post="nursery_carer",
                          start_date=date(2025, 1, 1))


# --- one institution cannot take over another's people -----------------------------------------


def link_elsewhere(world, person=None):
    """inst_other's admin types the number and name of inst's staff member."""
    person = person or world.staff
    return service.add_staff(world.users["inst_admin_other"], world.inst_other,
                             id_number=person.id_number, name=person.name, mobile="13700000001",
                             post="infant_carer", start_date=date(2025, 1, 1))


def test_linking_someone_employed_elsewhere_gives_no_password_and_keeps_their_sign_in(world):
    account = world.users["caregiver"]
    before = account.password_hash
    added = link_elsewhere(world)
    assert not added.person_created and added.initial_password is None
    assert account.password_hash == before
    assert world.staff.mobile == "13912345678"  # the sign-in name stays the person's


def test_the_new_employer_sees_only_its_own_employment(client, world, login_as):
    link_elsewhere(world)
    db.session.commit()
    login_as("inst_admin_other")
    page = client.get(f"/institutions/{world.inst_other.id}/staff/{world.staff.id}")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert world.inst_other.name in text and world.inst.name not in text
    assert "Nursery carer" not in text  # the other employer's post


def test_no_institution_replaces_a_password_the_person_chose(client, world, login_as):
    with pytest.raises(DomainError, match="set their own password"):
        service.issue_staff_password(world.users["inst_admin"], world.inst, world.staff)
    login_as("inst_admin")
    page = client.get(f"/institutions/{world.inst.id}/staff/{world.staff.id}").get_data(as_text=True)
    assert "set their own password" in page and "Issue a one-time password" not in page
    response = client.post(f"/institutions/{world.inst.id}/staff/{world.staff.id}/password",
                           follow_redirects=True)
    assert "set their own password" in response.get_data(as_text=True)
    assert login(client.application.test_client(), world.staff.mobile).status_code == 302


def test_a_second_employer_cannot_issue_a_one_time_password(world):
    world.users["caregiver"].must_change_password = True  # never changed their first one
    link_elsewhere(world)
    with pytest.raises(DomainError, match="not managed by this institution"):
        service.issue_staff_password(world.users["inst_admin_other"], world.inst_other,
                                     world.staff)
    # nor may the first, now that the person works elsewhere too
    with pytest.raises(DomainError, match="not managed by this institution"):
        service.issue_staff_password(world.users["inst_admin"], world.inst, world.staff)
    # a system administrator may
    _user, password = service.issue_staff_password(world.users["admin"], world.inst, world.staff)
    assert password


def test_the_creator_of_an_unused_account_may_issue_until_it_is_used(world):
    number = id_number("320104", "19950505", 4)
    added = service.add_staff(world.users["inst_admin"], world.inst, id_number=number,
                              name="刘婷婷", post="infant_carer", start_date=date(2025, 1, 1))
    person = added.employment.person
    assert added.initial_password
    link_elsewhere(world, person)
    # created here and never used: the creator may issue a new one-time password
    _user, password = service.issue_staff_password(world.users["inst_admin"], world.inst, person)
    assert password
    with pytest.raises(DomainError):
        service.issue_staff_password(world.users["inst_admin_other"], world.inst_other, person)
    # once used, the person works elsewhere too: nobody but an administrator
    db.session.scalar(select(User).where(User.person_id == person.id)).last_login_at = \
        datetime(2025, 1, 2)
    with pytest.raises(DomainError, match="not managed by this institution"):
        service.issue_staff_password(world.users["inst_admin"], world.inst, person)


def test_a_person_without_an_account_gets_none_from_a_second_employer(world):
    number = id_number("320104", "19960606", 6)
    data = write_xlsx(HEADERS, [["陈静", number, "", "保育员", "2024-03-01", "否"]],
                      text_columns={1, 2})
    assert roster.import_roster(world.users["inst_admin"], world.inst, data).ok
    person = service.find_person(number)
    added = service.add_staff(world.users["inst_admin_other"], world.inst_other,
                              id_number=number, name="陈静", post="infant_carer",
                              start_date=date(2025, 1, 1))
    assert added.initial_password is None
    assert service.account_id(person.id) is None


# --- lookups: no oracle, audited, rate-limited ---------------------------------------------------


def _answer(client, number, name):
    page = client.post("/registry/lookup", data={"id_number": number, "name": name})
    text = page.get_data(as_text=True)
    return page.status_code, text[text.index("<main"):].split('id="lookup-result"')[1][:300]


def test_lookup_answers_the_same_for_an_unknown_number_and_a_wrong_name(client, world, login_as):
    login_as("regulator")
    unknown = _answer(client, id_number("320104", "19700101", 8), world.staff.name)
    wrong_name = _answer(client, world.staff.id_number, "王某某")
    assert unknown == wrong_name
    right = client.post("/registry/lookup", data={"id_number": world.staff.id_number,
                                                  "name": world.staff.name})
    assert right.headers["Location"] == f"/registry/persons/{world.staff.id}"
    logged = db.session.scalars(select(AuditLog).where(AuditLog.action == "registry.lookup")
                                .order_by(AuditLog.id)).all()
    assert [entry.details["found"] for entry in logged] == [False, False, True]
    assert all(world.staff.id_number not in str(entry.details) for entry in logged)


def test_lookups_are_rate_limited_per_user(world):
    app = make_app(REGISTRY_LOOKUP_RATE_LIMIT="3 per minute")
    first, second = app.test_client(), app.test_client()
    login(first, "regulator")
    login(second, "regulator_city")
    data = {"id_number": world.staff.id_number, "name": "王某某"}
    codes = [first.post("/registry/lookup", data=data).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    assert second.post("/registry/lookup", data=data).status_code == 200  # its own budget
    assert first.get("/registry/lookup").status_code == 200  # only lookups count


def test_finding_staff_is_audited(client, world, login_as):
    login_as("inst_admin")
    client.post(f"/institutions/{world.inst.id}/staff/find",
                data={"id_number": world.staff_other.id_number})
    entry = db.session.scalar(select(AuditLog).where(AuditLog.action == "registry.staff_lookup"))
    assert entry is not None and entry.details["found"] is False


# --- services authorise the actor ----------------------------------------------------------------

ROLES = ["admin", "inst_admin", "inst_admin_other", "base_staff", "hr_reviewer", "regulator",
         "regulator_other", "caregiver"]


def _calls(world):
    """Each state-changing registry service, called on inst's world, and who may call it."""
    employment = world.staff.employments[0]
    qtype = db.session.scalar(select(QualificationType).where(QualificationType.code == "baoan"))
    return {
        "add_staff": (lambda u: service.add_staff(
            u, world.inst, id_number=id_number("320104", "19900101", 8), name="李静",
            post="nursery_carer", start_date=date(2025, 1, 1)), {"admin", "inst_admin"}),
        "end_employment": (lambda u: service.end_employment(
            u, employment, local_today(), "离职"), {"admin", "inst_admin"}),
        "record_ban": (lambda u: service.record_ban(
            u, id_number=id_number("320104", "19800101", 2), name="某某", kind="lifetime",
            starts_on=date(2025, 1, 1), ends_on=None, reason="虐待"), {"admin", "regulator",
                                                                     "regulator_other"}),
        "set_photo": (lambda u: service.set_photo(u, world.staff, b""), {"admin", "inst_admin"}),
        "add_qualification": (lambda u: service.add_qualification(
            u, world.staff, qtype, issued_on=date(2025, 1, 1)), {"admin", "inst_admin"}),
        "reveal_id_number": (lambda u: service.reveal_id_number(u, world.staff),
                             {"admin", "inst_admin", "regulator"}),
        "create_organisation": (lambda u: service.create_organisation(
            u, kind="training_base", name="新基地", district=world.xuanwu), {"admin"}),
        "add_post_requirement": (lambda u: service.add_post_requirement(
            u, "finance", qtype, None), {"admin"}),
        "import_roster": (lambda u: roster.import_roster(u, world.inst, b"not a file"),
                          {"admin", "inst_admin"}),
        "issue_staff_password": (lambda u: service.issue_staff_password(
            u, world.inst, world.staff), {"admin", "inst_admin"}),
        "lookup_person": (lambda u: service.lookup_person(u, world.staff.id_number, "x"),
                          {"admin", "regulator", "regulator_other"}),
    }


@pytest.mark.parametrize("role", ROLES)
def test_every_registry_service_authorises_its_actor(world, role):
    for name, (call, allowed) in _calls(world).items():
        with db.session.begin_nested():
            try:
                call(world.users[role])
            except PermissionDenied:
                refused = True
            except DomainError:
                refused = False  # authorised, then a rule of the data
            else:
                refused = False
            assert refused == (role not in allowed), (name, role)
            db.session.rollback()


def test_a_bare_string_is_no_actor(world):
    for call, _allowed in _calls(world).values():
        with pytest.raises(PermissionDenied):
            call("test")


# --- employments move through their table --------------------------------------------------------

PAIRS = [(state, action) for state in EmploymentState for action in EmploymentAction]


@pytest.mark.parametrize("state, action", PAIRS)
def test_every_state_and_action_of_an_employment(world, state, action):
    employment = world.staff.employments[0]
    if state == EmploymentState.ENDED:
        service.end_employment(DEMO, employment, local_today(), "离职")
    target = service.EMPLOYMENT_TRANSITIONS.get((state, action))
    offered = service.employment_actions(employment, world.users["inst_admin"])
    assert (action in offered) == (target is not None)
    if target is None:
        with pytest.raises(InvalidTransition):
            service.EMPLOYMENT.apply(world.users["inst_admin"], employment, action, reason="x",
                                     values={"end_date": local_today()})
    else:
        service.end_employment(world.users["inst_admin"], employment, local_today(), "合同到期")
        assert employment.state == target.value and employment.end_date == local_today()
        event = db.session.scalar(select(StateEvent).where(StateEvent.object_id == employment.id,
                                                           StateEvent.action == action.value))
        assert event.reason == "合同到期" and event.to_state == target.value


def test_nobody_else_ends_an_employment(world):
    employment = world.staff.employments[0]
    assert service.employment_actions(employment, world.users["inst_admin_other"]) == []
    with pytest.raises(PermissionDenied):
        service.end_employment(world.users["inst_admin_other"], employment, local_today(), "x")


# --- one validation for the form and the roster --------------------------------------------------


def _both(world, *, number, name="李静", start, post="保育员"):
    """The same row through the form's service and the roster: (form message, roster messages)."""
    try:
        with db.session.begin_nested():
            service.add_staff(world.users["inst_admin"], world.inst, id_number=number, name=name,
                              post=post, start_date=start)
            form = None
            db.session.rollback()
    except DomainError as err:
        form = str(err)
    data = write_xlsx(HEADERS, [[name, number, "", post, start.isoformat(), "否"]],
                      text_columns={1, 2})
    result = roster.import_roster(world.users["inst_admin"], world.inst, data)
    if result.ok:
        db.session.rollback()
    return form, [e.message for e in result.errors]


@pytest.mark.parametrize("hour", [time(0, 30), time(7, 30)])
def test_form_and_roster_agree_on_every_date_rule_on_29_february(world, hour):
    # a UTC destination: time-machine would otherwise set the process's TZ to Beijing
    moment = datetime.combine(date(2028, 2, 29), hour, tzinfo=CITY).astimezone(UTC)
    with time_machine.travel(moment, tick=False):
        assert local_today() == date(2028, 2, 29)
        born_leap = id_number("320104", "20120229", 2)  # 16 on 2028-02-29, 15 the day before
        cases = [
            (dict(number=born_leap, start=date(2028, 2, 28)), "under 16"),
            (dict(number=id_number("320104", "19400101", 4), start=date(1968, 2, 28)),
             "more than 60 years ago"),
            (dict(number=id_number("320104", "19900101", 6), start=date(2029, 3, 2)),
             "more than a year ahead"),
        ]
        for row, words in cases:
            form, rows = _both(world, **row)
            assert form is not None and words in form, (row, form)
            assert rows == [form], (row, rows)
        # the limits themselves are accepted by both
        for row in (dict(number=born_leap, start=date(2028, 2, 29)),
                    dict(number=id_number("320104", "19400101", 8), start=date(1968, 2, 29)),
                    dict(number=id_number("320104", "19900101", 10), start=date(2029, 3, 1))):
            assert _both(world, **row) == (None, []), row


def test_form_and_roster_give_the_same_words_for_bad_rows(world):
    banned = id_number("320106", "19850612", 4)
    service.record_ban(DEMO, id_number=banned, name="孙某", kind="lifetime",
                       starts_on=date(2025, 1, 1), ends_on=None, reason="虐待婴幼儿")
    cases = [
        dict(number=banned, name="孙某", start=date(2025, 1, 1)),
        dict(number=world.staff.id_number, name="王某某", start=date(2025, 1, 1)),
        dict(number=world.staff.id_number, name=world.staff.name, start=date(2025, 1, 1)),
        dict(number=id_number("320104", "19900101", 4)[:-1] + "0", start=date(2025, 1, 1)),
        dict(number=id_number("320104", "19900101", 4), start=date(2025, 1, 1), post="园长"),
    ]
    for row in cases:
        form, rows = _both(world, **row)
        assert form is not None and rows == [form], (row, form, rows)


# --- pages ---------------------------------------------------------------------------------------


def _issued_certificate(world, person) -> Certificate:
    kind = db.session.scalar(select(QualificationType).where(QualificationType.code == "baoyushi"))
    record = service.add_qualification(DEMO, person, kind, issued_on=date(2025, 6, 1), level=5,
                                       certificate_no="BYS2025000001", issuer=world.base.name,
                                       source="issued")
    cert = Certificate(number="BYS2025000001", verify_code="v-trust-1", person_id=person.id,
                       qualification_type_id=kind.id, level=5, issuer_id=world.base.id,
                       issued_on=date(2025, 6, 1), status="valid", qualification_id=record.id,
                       version=1)
    db.session.add(cert)
    db.session.commit()
    return cert


@pytest.mark.parametrize("who, url", [
    ("admin", "/registry/persons/{person}"),
    ("regulator", "/registry/persons/{person}"),
    ("inst_admin", "/institutions/{inst}/staff/{person}"),
    ("caregiver", "/me"),
])
def test_person_pages_link_each_certificate(client, world, login_as, who, url):
    cert = _issued_certificate(world, world.staff)
    login_as(world.staff.mobile if who == "caregiver" else who)
    page = client.get(url.format(person=world.staff.id, inst=world.inst.id)).get_data(as_text=True)
    assert f'href="/certificates/{cert.id}"' in page


def test_the_direct_manager_box_is_not_labelled_like_the_director_post(client, world, login_as):
    login_as("inst_admin")
    page = client.get(f"/institutions/{world.inst.id}/staff/new").get_data(as_text=True)
    label = page.split('for="is_direct_manager"')[1].split("</label>")[0]
    assert "专职负责人" not in label and "Directly manages other staff" in label
    assert 'aria-describedby="is_direct_manager-help"' in page


# --- occupation data ------------------------------------------------------------------------------


def test_the_seeded_occupations_follow_the_national_standards(world):
    types = {t.code: t for t in db.session.scalars(select(QualificationType))}
    assert (types["yingyouer_fazhan"].occupation_code, types["yingyouer_fazhan"].level_list) == \
        ("4-10-01-01", [4, 3, 2, 1])
    assert (types["yuyingyuan"].occupation_code, types["yuyingyuan"].level_list) == \
        ("4-10-01-02", [5, 4, 3])
    assert (types["baoyushi"].occupation_code, types["baoyushi"].level_list) == \
        ("4-10-01-03", [5, 4, 3, 2, 1])
    with pytest.raises(DomainError, match="no level 5"):
        service.add_qualification(DEMO, world.staff, types["yingyouer_fazhan"],
                                  issued_on=date(2025, 1, 1), level=5)


def test_the_data_migration_fixes_rows_seeded_before(world):
    types = {t.code: t for t in db.session.scalars(select(QualificationType))}
    types["yingyouer_fazhan"].occupation_code = "4-10-01-06"
    types["yingyouer_fazhan"].levels = "5,4,3,2,1"
    types["yuyingyuan"].levels = "5,4,3,2,1"
    types["baoyushi"].levels = "5,4,3"  # an administrator's own choice stays
    db.session.flush()
    path = next(Path("migrations/versions").glob("*_registry_trust.py"))
    spec = importlib.util.spec_from_file_location("registry_trust", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    context = MigrationContext.configure(db.session.connection())
    with Operations.context(context):
        module.fix_occupations()
    db.session.expire_all()
    types = {t.code: t for t in db.session.scalars(select(QualificationType))}
    assert types["yingyouer_fazhan"].occupation_code == "4-10-01-01"
    assert types["yingyouer_fazhan"].levels == "4,3,2,1"
    assert types["yuyingyuan"].levels == "5,4,3"
    assert types["baoyushi"].levels == "5,4,3"

