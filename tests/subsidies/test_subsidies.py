"""Training subsidies: standards, every eligibility rule, every (state, action) pair of the
transition table, four eyes, the notice and objections, the queue, the export, and twenty
simultaneous submissions of one claim."""

from __future__ import annotations

import io
import itertools
from datetime import date, timedelta
from decimal import Decimal

import openpyxl
import pytest
from sqlalchemy import func, select

from lms.auth.models import Role, User
from lms.certificates import service as certificates
from lms.certificates.models import Certificate, CertificateStatus
from lms.core.clock import local_today, utc_now
from lms.core.settings import set_setting
from lms.extensions import db
from lms.registry import service as registry
from lms.subsidies import service
from lms.subsidies.models import (
    ClaimAction,
    ClaimEvent,
    ClaimState,
    SubsidyClaim,
    SubsidyNotice,
)
from lms.subsidies.service import (
    FourEyesViolation,
    InvalidTransition,
    NotEligible,
    QueueFilter,
    ReasonRequired,
)
from tests.helpers import (
    ACCOUNT,
    TESTS,
    at_once,
    certificate,
    claim_for,
    exam_result,
    exam_sitting,
    qtype,
)


def ban(world, person) -> None:
    registry.record_ban(world.users["regulator"], id_number=person.id_number, name=person.name,
                        kind="lifetime", starts_on=local_today(), ends_on=None, reason="虐童")


def second_hr(world, name="hr_second") -> User:
    user = User(username=name, display_name=name, role=Role.HR_REVIEWER.value,
                organisation_id=world.hr.id, password_hash="x", must_change_password=False)
    db.session.add(user)
    db.session.flush()
    return user


# --- standards ------------------------------------------------------------------------------------


def test_seeded_standards_and_a_claim_uses_the_one_in_force_on_the_issue_date(world):
    old = certificate(world, world.staff, level=5, issued_on=local_today() - timedelta(days=40))
    assert service.eligibility(old).amount == Decimal("1000.00")
    service.set_standard(world.users["admin"], qtype(), 5, "1200.50", local_today() - timedelta(days=20),
                         "2026年市人社局文件")
    assert service.eligibility(old).amount == Decimal("1000.00")  # issued before the new amount
    new = certificate(world, world.staff_other, level=5, issued_on=local_today() - timedelta(days=5))
    assert service.eligibility(new).amount == Decimal("1200.50")
    history = [s for s in service.standards() if s.qualification_type_id == qtype().id and s.level == 5]
    assert [s.amount for s in history] == [Decimal("1200.50"), Decimal("1000.00")]


@pytest.mark.parametrize("amount", ["abc", "-5", "0", "12.345", "1e9", "NaN"])
def test_a_standard_refuses_amounts_that_are_not_money(world, amount):
    with pytest.raises(service.DomainError):
        service.set_standard(world.users["admin"], qtype(), 5, amount, local_today())


def test_a_standard_must_name_a_level_the_type_has(world):
    with pytest.raises(service.DomainError):
        service.set_standard(world.users["admin"], qtype(), 0, "100", local_today())
    with pytest.raises(service.DomainError):
        service.set_standard(world.users["admin"], qtype("director_training"), 3, "100", local_today())


def test_the_amount_comes_from_the_standard_never_from_the_request(client, world, login_as):
    cert = certificate(world, world.staff, level=4)
    db.session.commit()
    login_as("13912345678")
    response = client.post(f"/my/subsidies/claim/{cert.id}", data={
        "bank_name": "工商银行", "bank_account": ACCOUNT, "amount": "99999", "standard_id": "1"})
    assert response.status_code == 302
    claim = db.session.scalar(select(SubsidyClaim))
    assert claim.amount == Decimal("1500.00") and isinstance(claim.amount, Decimal)


# --- eligibility ----------------------------------------------------------------------------------


def test_an_eligible_certificate_has_no_reasons(world):
    check = service.eligibility(certificate(world, world.staff))
    assert check.ok and check.reasons == []


@pytest.mark.parametrize("status", [CertificateStatus.SUSPENDED.value, CertificateStatus.REVOKED.value])
def test_only_a_valid_certificate_is_subsidised(world, status):
    check = service.eligibility(certificate(world, world.staff, status=status))
    assert not check.ok and any("not valid" in r for r in check.reasons)


def test_an_expired_certificate_is_not_subsidised(world):
    cert = certificate(world, world.staff, issued_on=local_today() - timedelta(days=60))
    cert.expires_on = local_today() - timedelta(days=1)
    assert any("expired" in r for r in service.eligibility(cert).reasons)


def test_claims_are_made_within_the_window_which_is_a_setting(world):
    cert = certificate(world, world.staff, issued_on=local_today() - timedelta(days=400))
    assert any("within 12 months" in r for r in service.eligibility(cert).reasons)
    set_setting(world.users["admin"], "subsidies.claim_window_months", 24, local_today() - timedelta(days=1))
    assert service.eligibility(cert).ok


def test_a_banned_person_gets_no_subsidy(world):
    cert = certificate(world, world.staff)
    ban(world, world.staff)
    assert any("banned" in r for r in service.eligibility(cert).reasons)


def test_each_occupation_and_level_is_subsidised_once_but_a_rejected_claim_can_be_made_again(world):
    cert = certificate(world, world.staff)
    claim = claim_for(world, cert)
    assert any("already claimed" in r for r in service.eligibility(cert).reasons)
    # paid, then the certificate revoked and the exam taken again: still once ever
    claim.state = ClaimState.PAID.value
    certificates.change_status(world.users["regulator"], cert, "revoke", "证书信息错误")
    again = certificate(world, world.staff, issued_on=local_today() - timedelta(days=3))
    assert any("already claimed" in r for r in service.eligibility(again).reasons)
    claim.state = ClaimState.REJECTED.value
    db.session.flush()
    assert service.eligibility(again).ok


def test_no_lower_level_once_a_higher_level_is_certified(world):
    kind = qtype()
    registry.add_qualification(TESTS, world.staff, kind, issued_on=local_today() - timedelta(days=100),
                               level=4, certificate_no="EXT-4", issuer="外市")
    cert = certificate(world, world.staff, level=5)
    assert any("higher level" in r for r in service.eligibility(cert).reasons)
    # another occupation is not affected
    assert service.eligibility(certificate(world, world.staff, level=5, code="yuyingyuan")).ok


def test_no_lower_level_once_a_higher_level_was_subsidised(world):
    higher = certificate(world, world.staff, level=3)
    claim_for(world, higher)
    # the level 3 certificate is revoked later: it no longer certifies, but it was subsidised
    certificates.change_status(world.users["regulator"], higher, "revoke", "补发错误")
    lower = certificate(world, world.staff, level=5)
    assert any("higher level" in r for r in service.eligibility(lower).reasons)


def test_at_most_three_subsidies_a_year_which_is_a_setting(world):
    for code in ("baoyushi", "yuyingyuan", "yingyouer_fazhan"):  # the last starts at 四级
        claim_for(world, certificate(world, world.staff, code=code,
                                     level=4 if code == "yingyouer_fazhan" else 5))
    fourth = certificate(world, world.staff, level=4, code="yuyingyuan")
    reasons = service.eligibility(fourth).reasons
    assert any("At most 3" in r for r in reasons)
    set_setting(world.users["admin"], "subsidies.max_per_year", 4, local_today() - timedelta(days=1))
    assert not any("At most" in r for r in service.eligibility(fourth).reasons)


def test_no_standard_no_subsidy(world):
    check = service.eligibility(certificate(world, world.staff, level=0, code="director_training"))
    assert any("No subsidy standard" in r for r in check.reasons)


def test_every_reason_is_given_at_once(world):
    cert = certificate(world, world.staff, issued_on=local_today() - timedelta(days=400), status="suspended")
    ban(world, world.staff)
    assert len(service.eligibility(cert).reasons) == 3
    with pytest.raises(NotEligible) as err:
        claim_for(world, cert)
    assert len(err.value.reasons) == 3


def test_a_caregiver_claims_only_their_own_certificate(world):
    cert = certificate(world, world.staff_other)
    with pytest.raises(service.PermissionDenied):
        service.submit(world.users["caregiver"], cert, bank_name="银行", bank_account=ACCOUNT)


@pytest.mark.parametrize("account", ["12345", "6222-abc-1234567", "1" * 31, ""])
def test_bank_accounts_are_digits(world, account):
    cert = certificate(world, world.staff)
    with pytest.raises(service.DomainError) as err:
        service.submit(world.users["caregiver"], cert, bank_name="银行", bank_account=account)
    assert err.value.field == "bank_account"
    assert db.session.scalar(select(func.count()).select_from(SubsidyClaim)) == 0


# --- the transition table -------------------------------------------------------------------------

ACTORS = {ClaimAction.CONFIRM: "base_staff", ClaimAction.WITHDRAW: "caregiver",
          ClaimAction.BAN: "regulator"}


def _claim_in(world, state: ClaimState) -> SubsidyClaim:
    claim = claim_for(world, certificate(world, world.staff))
    claim.state = state.value
    if state in (ClaimState.PUBLISHED, ClaimState.PAID):
        notice = SubsidyNotice(title="公示", starts_on=local_today() - timedelta(days=10),
                               ends_on=local_today() - timedelta(days=3))
        db.session.add(notice)
        db.session.flush()
        claim.notice_id = notice.id
    db.session.flush()
    return claim


def _act(world, claim, action):
    actor = world.users[ACTORS.get(action, "hr_reviewer")]
    notice = None
    if action == ClaimAction.PUBLISH:
        notice = SubsidyNotice(title="公示", starts_on=local_today(), ends_on=local_today() + timedelta(days=6))
        db.session.add(notice)
        db.session.flush()
    return service.transition(actor, claim, action, reason="核实", notice=notice,
                              payment_ref="PAY-1", paid_on=local_today())


@pytest.mark.parametrize("state,action", list(itertools.product(ClaimState, ClaimAction)),
                         ids=lambda v: v.value)
def test_every_state_and_action(world, state, action):
    claim = _claim_in(world, state)
    events_before = len(service.events(claim))
    target = service.TRANSITIONS.get((state, action))
    if target is None:
        with pytest.raises(InvalidTransition):
            _act(world, claim, action)
        assert claim.state == state.value
        assert len(service.events(claim)) == events_before
        return
    _act(world, claim, action)
    assert claim.state == target.value
    event = service.events(claim)[-1]
    assert (event.from_state, event.to_state, event.action) == (state.value, target.value, action.value)
    assert event.actor_id == world.users[ACTORS.get(action, "hr_reviewer")].id


def test_the_table_allows_withdrawal_only_before_approval():
    withdrawable = {s for (s, a) in service.TRANSITIONS if a == ClaimAction.WITHDRAW}
    assert withdrawable == {ClaimState.SUBMITTED, ClaimState.CONFIRMED, ClaimState.SECOND_REVIEW}


def test_rejecting_needs_a_reason_and_the_caregiver_is_told_it(world):
    claim = _claim_in(world, ClaimState.CONFIRMED)
    with pytest.raises(ReasonRequired):
        service.transition(world.users["hr_reviewer"], claim, ClaimAction.REJECT, reason="  ")
    service.transition(world.users["hr_reviewer"], claim, ClaimAction.REJECT, reason="银行账户户名不符")
    from lms.core.notifications import latest, text_of
    assert "银行账户户名不符" in text_of(latest(world.users["caregiver"].id)[0])


def test_only_the_right_people_act(world):
    claim = _claim_in(world, ClaimState.SUBMITTED)
    for who in ("caregiver", "hr_reviewer", "admin", "caregiver_other"):
        with pytest.raises(service.PermissionDenied):
            service.transition(world.users[who], claim, ClaimAction.CONFIRM)
    claim.state = ClaimState.CONFIRMED.value
    for who in ("base_staff", "caregiver", "admin", "regulator"):
        with pytest.raises(service.PermissionDenied):
            service.transition(world.users[who], claim, ClaimAction.APPROVE)
    claim.state = ClaimState.SUBMITTED.value
    # a caregiver's own claim is theirs to withdraw, not the base's
    with pytest.raises(service.PermissionDenied):
        service.transition(world.users["base_staff"], claim, ClaimAction.WITHDRAW)
    claim.state = ClaimState.CONFIRMED.value
    other_district = second_hr(world, "hr_gulou")
    other_district.district_id = world.gulou.id  # the claim's base is in 玄武区
    with pytest.raises(service.PermissionDenied):
        service.transition(other_district, claim, ClaimAction.APPROVE)


# --- four eyes ------------------------------------------------------------------------------------


def test_whoever_confirmed_a_claim_cannot_approve_it(world):
    claim = _claim_in(world, ClaimState.SUBMITTED)
    confirmer = world.users["base_staff"]
    service.transition(confirmer, claim, ClaimAction.CONFIRM)
    confirmer.role = Role.HR_REVIEWER.value  # moved to the HR bureau, same account
    confirmer.organisation_id = world.hr.id
    with pytest.raises(FourEyesViolation):
        service.transition(confirmer, claim, ClaimAction.APPROVE)
    assert claim.state == ClaimState.CONFIRMED.value


def test_nobody_approves_their_own_claim(world):
    claim = _claim_in(world, ClaimState.CONFIRMED)
    # the HR reviewer is the person who holds the certificate (their one account)
    world.users["caregiver"].person_id = None
    db.session.flush()
    reviewer = world.users["hr_reviewer"]
    reviewer.person_id = world.staff.id
    with pytest.raises(FourEyesViolation):
        service.transition(reviewer, claim, ClaimAction.APPROVE)
    assert ClaimAction.APPROVE not in service.actions_for(reviewer, claim)


def test_above_the_threshold_a_second_reviewer_approves(world):
    service.set_standard(world.users["admin"], qtype(), 2, "3000", date(2020, 1, 1))
    claim = claim_for(world, certificate(world, world.staff, level=2))
    service.transition(world.users["base_staff"], claim, ClaimAction.CONFIRM)
    first, second = world.users["hr_reviewer"], second_hr(world)
    service.transition(first, claim, ClaimAction.APPROVE)
    assert claim.state == ClaimState.SECOND_REVIEW.value
    with pytest.raises(FourEyesViolation):
        service.transition(first, claim, ClaimAction.APPROVE)
    service.transition(second, claim, ClaimAction.APPROVE)
    assert claim.state == ClaimState.APPROVED.value and claim.approved_by_id == second.id


def test_at_the_threshold_one_approver_is_enough(world):
    claim = claim_for(world, certificate(world, world.staff, level=3))  # 2000.00, the threshold
    service.transition(world.users["base_staff"], claim, ClaimAction.CONFIRM)
    service.transition(world.users["hr_reviewer"], claim, ClaimAction.APPROVE)
    assert claim.state == ClaimState.APPROVED.value


def test_a_ban_after_the_claim_stops_approval(world):
    claim = _claim_in(world, ClaimState.CONFIRMED)
    ban(world, world.staff)
    with pytest.raises(service.DomainError, match="banned"):
        service.transition(world.users["hr_reviewer"], claim, ClaimAction.APPROVE)


# --- notice, objections, payment ------------------------------------------------------------------


def _approved(world, person=None) -> SubsidyClaim:
    person = person or world.staff
    claim = claim_for(world, certificate(world, person))
    service.transition(world.users["base_staff"], claim, ClaimAction.CONFIRM)
    service.transition(world.users["hr_reviewer"], claim, ClaimAction.APPROVE)
    return claim


def test_payment_waits_for_the_notice_and_for_objections(world):
    claim = _approved(world)
    hr = world.users["hr_reviewer"]
    notice, outcome = service.publish(hr, [claim.id])
    assert claim.state == ClaimState.PUBLISHED.value and notice.ends_on == local_today() + timedelta(days=6)
    rows = service.notice_rows(notice)
    assert rows[0]["name"] != world.staff.name and rows[0]["name"][0] == world.staff.name[0]
    with pytest.raises(service.DomainError, match="notice runs until"):
        service.transition(hr, claim, ClaimAction.PAY, payment_ref="P1", paid_on=local_today())
    objection = service.record_objection(hr, claim, "举报：未实际参加培训", local_today())
    later = local_today() + timedelta(days=10)
    with pytest.raises(service.DomainError, match="objection"):
        service.transition(hr, claim, ClaimAction.PAY, payment_ref="P1", paid_on=later, today=later)
    service.resolve_objection(hr, objection, upheld=False, resolution="核实参加了培训")
    service.transition(hr, claim, ClaimAction.PAY, payment_ref="P1", paid_on=later, today=later)
    assert (claim.state, claim.paid_on, claim.payment_ref) == (ClaimState.PAID.value, later, "P1")


def test_an_upheld_objection_rejects_the_claim(world):
    claim = _approved(world)
    hr = world.users["hr_reviewer"]
    service.publish(hr, [claim.id])
    objection = service.record_objection(hr, claim, "同一人重复申领", local_today())
    service.resolve_objection(hr, objection, upheld=True, resolution="属实")
    assert claim.state == ClaimState.REJECTED.value and claim.rejected_reason == "属实"


def test_every_change_records_who_when_and_why(world):
    claim = _approved(world)
    events = service.events(claim)
    assert [(e.action, e.to_state) for e in events] == [
        ("submit", "submitted"), ("confirm", "confirmed"), ("approve", "approved")]
    assert all(e.actor_id and e.created_at for e in events)


def test_two_reviewers_at_once_one_wins(app, world):
    claim = _claim_in(world, ClaimState.CONFIRMED)
    second_hr(world)
    db.session.commit()
    claim_id = claim.id

    def click(who, go):
        username, action = who
        user = db.session.scalar(select(User).where(User.username == username))
        row = db.session.get(SubsidyClaim, claim_id)
        row.person, row.base  # noqa: B018 - load before the race
        db.session.commit()
        go()
        try:
            service.transition(user, row, action, reason="不符合条件")
            db.session.commit()
            return action.value
        except service.DomainError:
            db.session.rollback()
            return "refused"

    outcomes = at_once(app, click, [("hr_reviewer", ClaimAction.APPROVE),
                                    ("hr_second", ClaimAction.REJECT)])
    assert outcomes.count("refused") == 1, outcomes
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(ClaimEvent).where(
        ClaimEvent.claim_id == claim_id, ClaimEvent.action != "submit")) == 1


# --- twenty at once -------------------------------------------------------------------------------


def test_twenty_simultaneous_submissions_make_one_claim(app, world):
    cert = certificate(world, world.staff)
    db.session.commit()
    cert_id = cert.id

    def submit(_n, go):
        user = db.session.scalar(select(User).where(User.person_id == world.staff.id))
        row = db.session.get(Certificate, cert_id)
        row.person, row.issuer  # noqa: B018 - load before the race
        db.session.commit()
        go()
        try:
            service.submit(user, row, bank_name="工商银行", bank_account=ACCOUNT)
            db.session.commit()
            return "claimed"
        except service.DomainError as err:
            db.session.rollback()
            return str(err)

    outcomes = at_once(app, submit, range(20))
    assert outcomes.count("claimed") == 1, outcomes
    assert all("already claimed" in o for o in outcomes if o != "claimed")
    assert db.session.scalar(select(func.count()).select_from(SubsidyClaim)) == 1


# --- the queue and the export ---------------------------------------------------------------------


def test_the_queue_filters_and_totals_and_the_export_matches_it(world):
    hr = world.users["hr_reviewer"]
    paid = _approved(world)
    service.publish(hr, [paid.id])
    paid.notice.starts_on, paid.notice.ends_on = local_today() - timedelta(days=9), local_today() - timedelta(days=2)
    service.transition(hr, paid, ClaimAction.PAY, payment_ref="=HYPERLINK(\"http://x\")", paid_on=local_today())
    approved = claim_for(world, certificate(world, world.staff_other, level=4))
    approved.bank_name = "=cmd|' /C calc'!A0"
    service.transition(world.users["base_staff"], approved, ClaimAction.CONFIRM)
    service.transition(hr, approved, ClaimAction.APPROVE)
    waiting = claim_for(world, certificate(world, world.staff, level=5, code="yuyingyuan"))

    everything = service.queue(hr, QueueFilter())
    assert everything.count == 3 and everything.total == Decimal("3500.00")
    payable = service.queue(hr, QueueFilter(state=service.PAYABLE))
    assert payable.count == 2 and payable.total == Decimal("2500.00")
    assert service.queue(hr, QueueFilter(state="submitted")).pagination.items == [waiting]
    assert service.queue(hr, QueueFilter(qualification_type_id=qtype("yuyingyuan").id)).count == 1
    assert service.queue(hr, QueueFilter(district_id=world.gulou.id)).count == 0
    assert service.queue(hr, QueueFilter(date_from=local_today() + timedelta(days=1))).count == 0
    assert service.queue(hr, QueueFilter(date_to=local_today())).count == 3

    sheet = openpyxl.load_workbook(io.BytesIO(service.export_xlsx(hr, QueueFilter(
        state=service.PAYABLE)))).active
    rows = list(sheet.iter_rows(values_only=True))
    body, total = rows[1:-1], rows[-1]
    assert len(body) == payable.count
    assert Decimal(str(total[7])) == payable.total == sum(Decimal(str(r[7])) for r in body)
    cells = [str(v) for r in rows for v in r if isinstance(v, str)]
    assert not any(c.startswith(("=", "+", "-", "@")) for c in cells)
    assert "'=cmd|' /C calc'!A0" in cells and "'=HYPERLINK(\"http://x\")" in cells
    assert world.staff.id_number not in cells  # masked
    # the export covers only approved, in-notice and paid claims, whatever the filter
    submitted_only = openpyxl.load_workbook(io.BytesIO(service.export_xlsx(hr, QueueFilter(
        state="submitted")))).active
    assert submitted_only.max_row == 2  # headers and an empty total


def test_a_district_reviewer_sees_only_the_districts_claims(world):
    claim_for(world, certificate(world, world.staff))
    gulou = second_hr(world, "hr_gulou")
    gulou.district_id = world.gulou.id
    assert service.queue(gulou, QueueFilter()).count == 0
    assert service.queue(world.users["hr_reviewer"], QueueFilter()).count == 1


def test_batch_approval_approves_what_it_may_and_says_why_not_for_the_rest(world):
    good = _claim_in(world, ClaimState.CONFIRMED)
    early = claim_for(world, certificate(world, world.staff_other))  # not yet confirmed
    outcome = service.approve_many(world.users["hr_reviewer"], [good.id, early.id])
    assert [c.id for c in outcome.done] == [good.id]
    assert [c.id for c, _ in outcome.refused] == [early.id]
    assert good.state == ClaimState.APPROVED.value and early.state == ClaimState.SUBMITTED.value


def test_a_base_claims_for_the_passers_of_its_sitting(world, course):
    from lms.learning.models import Enrolment

    for person in (world.staff, world.staff_other):
        db.session.add(Enrolment(person_id=person.id, course_id=course.id, completed_at=utc_now()))
    sitting = exam_sitting(world)
    good = exam_result(world, sitting, world.staff, "85", "90")
    other = exam_result(world, sitting, world.staff_other, "80", "70")
    issued = [certificates.issue(world.users["base_staff"], r) for r in (good, other)]
    ban(world, world.staff_other)
    assert service.claimable_sittings(world.base) == [sitting]
    plan = service.sitting_plan(sitting)
    assert [e.certificate.id for e in plan.ready] == [issued[0].id]
    assert [e.certificate.id for e in plan.refused] == [issued[1].id]
    # both chosen: the banned one is left out, as the page showed
    claims = service.submit_for_sitting(world.users["base_staff"], sitting, [c.id for c in issued],
                                        bank_name="建设银行", bank_account="3200 1234 5678 9012 3456")
    assert [(c.person_id, c.state, c.payee_kind, c.payee_name, c.bank_account) for c in claims] == [
        (world.staff.id, "confirmed", "base", world.base.name, "32001234567890123456")]
    assert [e.action for e in service.events(claims[0])] == ["submit", "confirm"]
    service.transition(world.users["base_staff"], claims[0], ClaimAction.WITHDRAW, reason="账户有误")
    assert claims[0].state == ClaimState.WITHDRAWN.value
    with pytest.raises(service.PermissionDenied):
        service.submit_for_sitting(world.users["inst_admin"],
                                   sitting, [issued[0].id], bank_name="银行", bank_account=ACCOUNT)
