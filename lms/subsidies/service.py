"""Training subsidies: standards, eligibility, claims and the one transition table, review with
four eyes, the public notice, payment, the reviewers' queue and its export.

Every rule about subsidies lives here. A claim's state changes only through `transition`,
which looks the move up in TRANSITIONS, checks who may make it, and writes the new state with
a compare-and-set (two reviewers clicking at once: one wins, the other is told) and an event
saying who, when and why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from flask import has_request_context, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, func, select, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from lms.auth.models import Role
from lms.certificates import service as certificates
from lms.certificates.models import Certificate
from lms.core import audit, jobs
from lms.core.clock import local_today, to_local, to_utc, utc_now
from lms.core.errors import DomainError, PermissionDenied
from lms.core.excel import write_xlsx
from lms.core.idnumber import mask_id_number, mask_name
from lms.core.notifications import message, notify
from lms.core.permissions import authorize
from lms.core.settings import define, get_setting
from lms.exams.models import LEVEL_TITLES, ExamSitting
from lms.extensions import db
from lms.registry import service as registry
from lms.registry.models import Organisation, OrgKind, Person, Qualification, QualificationType
from lms.registry.permissions import can_apply_ban_effects, can_run_base, is_base_staff
from lms.subsidies.models import (
    CLOSED_STATES,
    SEED_NOTE,
    ClaimAction,
    ClaimEvent,
    ClaimState,
    Objection,
    ObjectionContact,
    SubsidyClaim,
    SubsidyNotice,
    SubsidyStandard,
)

define("subsidies.claim_window_months", _l("Months after issue within which a subsidy may be claimed"),
       "int", 12, 1, 60, _l("months"))
define("subsidies.max_per_year", _l("Subsidies per person per calendar year"), "int", 3, 0, 20)
define("subsidies.second_approval_threshold", _l("Amount above which a second approver is needed"),
       "decimal", "2000.00", 0, 1000000, _l("yuan"))
define("subsidies.notice_days", _l("Days a public notice of subsidies runs"), "int", 7, 1, 60,
       _l("days"))

message("subsidy.confirmed", _l("Your subsidy claim %(ref)s was confirmed by the training base."))
message("subsidy.approved", _l("Your subsidy claim %(ref)s was approved."))
message("subsidy.rejected", _l("Your subsidy claim %(ref)s was rejected: %(reason)s"))
message("subsidy.published", _l("Your subsidy claim %(ref)s is in the public notice until %(until)s."))
message("subsidy.notice_ended", _l(
    "The public notice “%(title)s” ended on %(ends_on)s: %(payable)s of its claims may be paid, "
    "%(held)s wait on an open objection."))
message("subsidy.paid", _l("Your subsidy %(ref)s of %(amount)s yuan was paid on %(paid_on)s."))

S, A = ClaimState, ClaimAction

#: (state, action) -> the state it leads to. Nothing else moves a claim.
#: Approving a claim above the second-approval threshold the first time leads to SECOND_REVIEW
#: instead of APPROVED (see `_target`).
TRANSITIONS: dict[tuple[ClaimState, ClaimAction], ClaimState] = {
    (S.SUBMITTED, A.CONFIRM): S.CONFIRMED,
    (S.SUBMITTED, A.WITHDRAW): S.WITHDRAWN,
    (S.CONFIRMED, A.APPROVE): S.APPROVED,
    (S.CONFIRMED, A.REJECT): S.REJECTED,
    (S.CONFIRMED, A.WITHDRAW): S.WITHDRAWN,
    (S.SECOND_REVIEW, A.APPROVE): S.APPROVED,
    (S.SECOND_REVIEW, A.REJECT): S.REJECTED,
    (S.SECOND_REVIEW, A.WITHDRAW): S.WITHDRAWN,
    (S.APPROVED, A.PUBLISH): S.PUBLISHED,
    # an objection upheld during the notice rejects the claim
    (S.PUBLISHED, A.REJECT): S.REJECTED,
    (S.PUBLISHED, A.PAY): S.PAID,
    # a ban rejects every claim not yet paid (enforcement calls reject_claims_for_ban)
    (S.SUBMITTED, A.BAN): S.REJECTED,
    (S.CONFIRMED, A.BAN): S.REJECTED,
    (S.SECOND_REVIEW, A.BAN): S.REJECTED,
    (S.APPROVED, A.BAN): S.REJECTED,
    (S.PUBLISHED, A.BAN): S.REJECTED,
}

#: the states a reviewer's export covers
EXPORT_STATES = (S.APPROVED, S.PUBLISHED, S.PAID)

ALREADY_CLAIMED = _l("A subsidy for this occupation and level was already claimed.")

#: caregivers' bank cards are 16-19 digits, organisations' accounts up to about 25
_ACCOUNT = re.compile(r"^\d{10,30}$")


class InvalidTransition(DomainError):
    """The claim's state does not allow that action."""


class FourEyesViolation(PermissionDenied):
    """The same person may not both put a claim forward and approve it."""


class NotEligible(DomainError):
    def __init__(self, reasons: list[str]):
        super().__init__("；".join(reasons))
        self.reasons = reasons


class ReasonRequired(DomainError):
    default_field = "reason"


# --- standards ------------------------------------------------------------------------------------

#: seeded amounts (yuan) by level, for every certificate type with levels; the issue's example
#: figures, effective from 2020. A city enters its own published standard on the standards page
#: (a new dated row; the seed stays as history).
SEED_AMOUNTS = {5: Decimal("1000.00"), 4: Decimal("1500.00"), 3: Decimal("2000.00")}
SEED_FROM = date(2020, 1, 1)


def ensure_standards() -> None:
    """Seed the standards once (idempotent)."""
    if db.session.scalar(select(SubsidyStandard.id).limit(1)) is not None:
        return
    for qtype in db.session.scalars(select(QualificationType).where(QualificationType.has_levels)):
        for level, amount in SEED_AMOUNTS.items():
            if level in qtype.level_list:
                db.session.add(SubsidyStandard(
                    qualification_type_id=qtype.id, level=level, amount=amount,
                    effective_from=SEED_FROM, note=SEED_NOTE))
    db.session.flush()


def standard_for(qtype_id: int, level: int, on: date) -> SubsidyStandard | None:
    """The standard in force for a type and level on a date (the latest dated row not after it)."""
    return db.session.scalar(
        select(SubsidyStandard).where(
            SubsidyStandard.qualification_type_id == qtype_id, SubsidyStandard.level == level,
            SubsidyStandard.effective_from <= on)
        .order_by(SubsidyStandard.effective_from.desc(), SubsidyStandard.id.desc()).limit(1))


def parse_amount(raw) -> Decimal:
    text = str(raw or "").strip().replace(",", "").replace("，", "")
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise DomainError(_l("The amount must be a number of yuan, e.g. 1500 or 1500.50."),
                          field="amount") from None
    if not amount.is_finite() or amount <= 0 or amount > Decimal("100000"):
        raise DomainError(_l("The amount must be more than 0 and at most 100,000 yuan."),
                          field="amount")
    if amount != amount.quantize(Decimal("0.01")):
        raise DomainError(_l("The amount has at most two decimals (fen)."), field="amount")
    return amount.quantize(Decimal("0.01"))


def set_standard(actor, qtype: QualificationType, level, amount, effective_from: date | None,
                 note: str = "") -> SubsidyStandard:
    """A new amount from a date on; earlier rows stay (claims already made keep their amount)."""
    from lms.subsidies.permissions import can_manage_standards

    authorize(actor, can_manage_standards, message=_l("Only an administrator sets subsidy standards."))
    try:
        level = int(level or 0)
    except (TypeError, ValueError):
        raise DomainError(_l("Choose the level."), field="level") from None
    if qtype.has_levels and level not in qtype.level_list:
        raise DomainError(_l("Choose one of this certificate's levels."), field="level")
    if not qtype.has_levels and level != 0:
        raise DomainError(_l("This certificate has no levels."), field="level")
    if effective_from is None:
        raise DomainError(_l("Give the date the amount applies from."), field="effective_from")
    row = SubsidyStandard(qualification_type_id=qtype.id, level=level, amount=parse_amount(amount),
                          effective_from=effective_from, note=(note or "").strip()[:200],
                          created_by_id=getattr(actor, "id", None))
    db.session.add(row)
    db.session.flush()
    audit.record(actor, "subsidies.standard_set", row, qualification=qtype.code, level=level,
                 amount=str(row.amount), effective_from=effective_from.isoformat())
    return row


def hr_bureaus() -> list[Organisation]:
    """The HR bureaus, each of which publishes notices and receives objections to them."""
    return list(db.session.scalars(select(Organisation).where(
        Organisation.kind == OrgKind.HR_BUREAU.value).order_by(Organisation.name)))


def objection_contacts() -> dict[int, str]:
    """bureau id -> where the public objects to its notices."""
    return {row.organisation_id: row.contact for row in db.session.scalars(select(ObjectionContact))}


def set_objection_contact(actor, bureau: Organisation, contact: str) -> ObjectionContact:
    """Where the public objects to this bureau's notices (its address, telephone, mailbox)."""
    from lms.subsidies.permissions import can_manage_standards

    authorize(actor, can_manage_standards,
              message=_l("Only an administrator sets where objections are received."))
    if bureau.kind != OrgKind.HR_BUREAU.value:
        raise DomainError(_l("Objections are received by an HR bureau."), field="bureau")
    contact = " ".join((contact or "").split())
    if not contact:
        raise DomainError(_l("Say where objections are received (address, telephone or mailbox)."),
                          field="contact")
    if len(contact) > 300:
        raise DomainError(_l("At most 300 characters."), field="contact")
    row = db.session.scalar(select(ObjectionContact).where(ObjectionContact.organisation_id == bureau.id))
    if row is None:
        row = ObjectionContact(organisation_id=bureau.id, contact=contact)
        db.session.add(row)
    row.contact, row.updated_by_id, row.updated_at = contact, getattr(actor, "id", None), utc_now()
    db.session.flush()
    audit.record(actor, "subsidies.objection_contact_set", bureau, contact=contact)
    return row


def objection_contact(notice: SubsidyNotice) -> str:
    """Where to object to this notice: its bureau's contact ("" when none is set)."""
    if notice.bureau_id is None:
        return ""
    return db.session.scalar(select(ObjectionContact.contact).where(
        ObjectionContact.organisation_id == notice.bureau_id)) or ""


def standards() -> list[SubsidyStandard]:
    """Every standard ever entered, by type and level, newest first within each."""
    return list(db.session.scalars(select(SubsidyStandard).order_by(
        SubsidyStandard.qualification_type_id, SubsidyStandard.level.desc(),
        SubsidyStandard.effective_from.desc(), SubsidyStandard.id.desc())))


# --- eligibility ----------------------------------------------------------------------------------


@dataclass
class Eligibility:
    """Yes or no, with every reason for no, and what would be paid."""

    certificate: Certificate
    reasons: list[str] = field(default_factory=list)
    standard: SubsidyStandard | None = None

    @property
    def ok(self) -> bool:
        return not self.reasons

    @property
    def amount(self) -> Decimal | None:
        return self.standard.amount if self.standard else None


def _live_claims(person_id: int):
    return select(SubsidyClaim).where(SubsidyClaim.person_id == person_id,
                                      SubsidyClaim.state.not_in([s.value for s in CLOSED_STATES]))


def eligibility(cert: Certificate, on: date | None = None) -> Eligibility:
    """Whether a subsidy may be claimed for this certificate now, and every reason if not."""
    on = on or local_today()
    result = Eligibility(cert)
    reasons = result.reasons
    district_id = cert.issuer.district_id
    state = certificates.state(cert, on)
    if state != "valid":
        reasons.append(str(_l("The certificate is not valid (%(state)s).",
                              state=_STATE_WORDS[state]())))
    months = get_setting("subsidies.claim_window_months", district_id, on)
    if on > certificates.add_months(cert.issued_on, months):
        reasons.append(str(_l("Subsidies must be claimed within %(months)s months of the "
                              "certificate's issue (issued %(issued)s).",
                              months=months, issued=cert.issued_on.isoformat())))
    if registry.is_banned(cert.person, on):
        reasons.append(str(_l("The person is banned from working in childcare.")))
    live = list(db.session.scalars(_live_claims(cert.person_id)))
    same = [c for c in live if c.qualification_type_id == cert.qualification_type_id]
    if any(c.level == cert.level for c in same):
        reasons.append(str(ALREADY_CLAIMED))
    if cert.level:
        higher_claimed = any(c.level and c.level < cert.level for c in same)
        higher_held = db.session.scalar(select(Qualification.id).where(
            Qualification.person_id == cert.person_id,
            Qualification.qualification_type_id == cert.qualification_type_id,
            Qualification.level.is_not(None), Qualification.level < cert.level,
            Qualification.revoked_at.is_(None)).limit(1))
        if higher_claimed or higher_held is not None:
            reasons.append(str(_l("A higher level of this occupation is already certified or "
                                  "subsidised, so the lower level is not subsidised.")))
    limit = get_setting("subsidies.max_per_year", district_id, on)
    this_year = sum(1 for c in live if c.year == on.year)
    if this_year >= limit:
        reasons.append(str(_l("At most %(limit)s subsidies per person per calendar year; "
                              "%(count)s already claimed in %(year)s.",
                              limit=limit, count=this_year, year=on.year)))
    result.standard = standard_for(cert.qualification_type_id, cert.level, cert.issued_on)
    if result.standard is None:
        reasons.append(str(_l("No subsidy standard applies to this certificate and level on its "
                              "issue date.")))
    return result


_STATE_WORDS = {
    "valid": lambda: _l("valid"),
    "expired": lambda: _l("expired"),
    "suspended": lambda: _l("suspended"),
    "revoked": lambda: _l("revoked"),
}


# --- submitting -----------------------------------------------------------------------------------


def clean_account(raw) -> str:
    account = re.sub(r"[\s-]", "", str(raw or ""))
    if not _ACCOUNT.match(account):
        raise DomainError(_l("The bank account is 10 to 30 digits."), field="bank_account")
    return account


def _clean_bank(raw) -> str:
    bank = " ".join(str(raw or "").split())
    if not bank:
        raise DomainError(_l("Give the bank (and branch) of the account."), field="bank_name")
    if len(bank) > 80:
        raise DomainError(_l("The bank name is at most 80 characters."), field="bank_name")
    return bank


def _lock_person(person_id: int) -> None:
    """Serialise claims of one person (the yearly limit counts them): a no-op UPDATE takes the
    row's lock on PostgreSQL and the write lock on SQLite until the transaction ends."""
    db.session.execute(update(Person).where(Person.id == person_id)
                       .values(updated_at=Person.updated_at))


def _create(actor, cert: Certificate, *, payee_kind: str, payee_name: str, bank_name: str,
            bank_account: str, today: date) -> SubsidyClaim:
    _lock_person(cert.person_id)
    check = eligibility(cert, today)
    if not check.ok:
        raise NotEligible(check.reasons)
    claim = SubsidyClaim(
        person_id=cert.person_id, certificate_id=cert.id,
        qualification_type_id=cert.qualification_type_id, level=cert.level,
        base_id=cert.issuer_id, district_id=cert.issuer.district_id, standard_id=check.standard.id,
        amount=check.standard.amount, state=S.SUBMITTED.value, year=today.year,
        payee_kind=payee_kind, payee_name=payee_name, bank_name=bank_name,
        bank_account=bank_account, submitted_by_id=actor.id, submitted_at=utc_now(),
        updated_at=utc_now())
    try:
        with db.session.begin_nested():
            db.session.add(claim)
            db.session.flush()
    except IntegrityError:  # the same claim, submitted at the same moment
        raise NotEligible([str(ALREADY_CLAIMED)]) from None
    _event(claim, actor, "submit", None, S.SUBMITTED)
    audit.record(actor, "subsidies.claim_submitted", claim, certificate=cert.number,
                 amount=str(claim.amount))
    return claim


def submit(actor, cert: Certificate, *, bank_name: str, bank_account: str,
           today: date | None = None) -> SubsidyClaim:
    """A caregiver claims for their own certificate, paid to their own account."""
    if not getattr(actor, "person_id", None) or actor.person_id != cert.person_id:
        raise PermissionDenied(_l("You can claim only for your own certificates."))
    bank_name, bank_account = _clean_bank(bank_name), clean_account(bank_account)
    return _create(actor, cert, payee_kind="person", payee_name=cert.person.name,
                   bank_name=bank_name, bank_account=bank_account, today=today or local_today())


@dataclass
class SittingPlan:
    """The passing candidates of a sitting: who can be claimed for, and who not and why."""

    ready: list[Eligibility] = field(default_factory=list)
    refused: list[Eligibility] = field(default_factory=list)


def sitting_plan(sitting: ExamSitting, today: date | None = None) -> SittingPlan:
    plan = SittingPlan()
    for cert in certificates.of_sitting(sitting):
        check = eligibility(cert, today)
        (plan.ready if check.ok else plan.refused).append(check)
    return plan


def submit_for_sitting(actor, sitting: ExamSitting, certificate_ids: list[int], *, bank_name: str,
                       bank_account: str, today: date | None = None) -> list[SubsidyClaim]:
    """A training base claims, in one go, for the chosen passers of its sitting, to the base's
    account (the base fronted the training). The base's own submission is its confirmation."""
    authorize(actor, can_run_base, org=sitting.organisation,
              message=_l("Only the training base that held the exam claims for it."))
    bank_name, bank_account = _clean_bank(bank_name), clean_account(bank_account)
    today = today or local_today()
    wanted = set(certificate_ids)
    if not wanted:
        raise DomainError(_l("Choose whom to claim for."))
    claims = []
    # each checked again, as on the page: things may have changed since it was shown
    for cert in (check.certificate for check in sitting_plan(sitting, today).ready
                 if check.certificate.id in wanted):
        claim = _create(actor, cert, payee_kind="base", payee_name=sitting.organisation.name,
                        bank_name=bank_name, bank_account=bank_account, today=today)
        claims.append(transition(actor, claim, A.CONFIRM, today=today))
    return claims


# --- moving a claim -------------------------------------------------------------------------------


def reviews(user, district_id: int | None) -> bool:
    """An HR reviewer sees the claims of their district; one without a district, the city's."""
    return bool(user and getattr(user, "is_authenticated", False) and user.role == Role.HR_REVIEWER
                and (user.district_id is None or user.district_id == district_id))


def is_claimant(user, claim: SubsidyClaim) -> bool:
    return bool(getattr(user, "person_id", None) and user.person_id == claim.person_id)


def may(user, claim: SubsidyClaim, action: ClaimAction) -> bool:
    """Whether the user's role and scope let them take this action (the state aside)."""
    if action == A.CONFIRM:
        return _base_staff_of(user, claim)
    if action == A.BAN:
        return can_apply_ban_effects(user)
    if action == A.WITHDRAW:
        # whoever put it forward: the caregiver, or the base for the claims it made itself
        return is_claimant(user, claim) or (claim.payee_kind == "base" and _base_staff_of(user, claim))
    return reviews(user, claim.district_id)


def _base_staff_of(user, claim: SubsidyClaim) -> bool:
    """Confirming is the base's own word that the person trained there: its staff only (not a
    system administrator acting for it)."""
    return bool(user and getattr(user, "is_authenticated", False) and user.role == Role.BASE_STAFF
                and user.organisation_id == claim.base_id)


def can_view(user, claim: SubsidyClaim) -> bool:
    if not (user and getattr(user, "is_authenticated", False)):
        return False
    return (user.role == Role.ADMIN or is_claimant(user, claim) or can_run_base(user, org=claim.base)
            or reviews(user, claim.district_id))


def actions_for(user, claim: SubsidyClaim) -> list[ClaimAction]:
    """What the claim's page offers this user (publishing and paying are done from the queue)."""
    state = ClaimState(claim.state)
    return [a for (s, a) in TRANSITIONS if s == state and a not in (A.PUBLISH, A.PAY, A.BAN)
            and may(user, claim, a) and not (a == A.APPROVE and _four_eyes_problem(user, claim))]


def _four_eyes_problem(actor, claim: SubsidyClaim):
    if is_claimant(actor, claim):
        return _l("You cannot approve your own claim.")
    if actor.id in (claim.submitted_by_id, claim.confirmed_by_id):
        return _l("Whoever submitted or confirmed a claim cannot approve it.")
    if actor.id == claim.first_approved_by_id:
        return _l("The second approval must come from another reviewer.")
    return None


def _target(claim: SubsidyClaim, action: ClaimAction, today: date) -> ClaimState:
    state = ClaimState(claim.state)
    target = TRANSITIONS.get((state, action))
    if target is None:
        raise InvalidTransition(_l("A claim that is %(state)s cannot be handled that way "
                                   "(%(action)s).", state=claim.state_title, action=action.title))
    if (state, action) == (S.CONFIRMED, A.APPROVE) and claim.amount > get_setting(
            "subsidies.second_approval_threshold", claim.district_id, today):
        return S.SECOND_REVIEW
    return target


def _still_payable(claim: SubsidyClaim, today: date) -> None:
    """A ban or a withdrawn certificate since the claim was made stops approval and payment."""
    if registry.is_banned(claim.person, today):
        raise DomainError(_l("The person is banned from working in childcare."))
    if claim.certificate.status != "valid":
        raise DomainError(_l("The certificate has been %(status)s since the claim was made.",
                             status=claim.certificate.status_title))


def _event(claim: SubsidyClaim, actor, action: str, from_state, to_state, reason: str = "") -> None:
    db.session.add(ClaimEvent(
        claim_id=claim.id, action=action, from_state=from_state.value if from_state else None,
        to_state=to_state.value, reason=reason, actor_id=getattr(actor, "id", None),
        actor_label=getattr(actor, "display_name", None) or str(actor)))


def transition(actor, claim: SubsidyClaim, action: ClaimAction | str, *, reason: str = "",
               today: date | None = None, notice: SubsidyNotice | None = None,
               payment_ref: str = "", paid_on: date | None = None) -> SubsidyClaim:
    """Move a claim by one action of the table, or refuse with a clear message."""
    today = today or local_today()
    try:
        action = ClaimAction(action)
    except ValueError:
        raise InvalidTransition(_l("Unknown action.")) from None
    if not may(actor, claim, action):
        raise PermissionDenied(_l("You may not %(action)s this claim.", action=action.title))
    source = ClaimState(claim.state)
    target = _target(claim, action, today)
    reason = (reason or "").strip()
    values: dict = {}
    now = utc_now()
    if action == A.CONFIRM:
        values.update(confirmed_by_id=actor.id, confirmed_at=now)
    elif action == A.APPROVE:
        problem = _four_eyes_problem(actor, claim)
        if problem:
            raise FourEyesViolation(problem)
        _still_payable(claim, today)
        if target == S.SECOND_REVIEW:
            values.update(first_approved_by_id=actor.id)
        else:
            values.update(approved_by_id=actor.id, approved_at=now)
    elif action in (A.REJECT, A.BAN):
        if not reason:
            raise ReasonRequired(_l("Give the reason for rejecting the claim."))
        values.update(rejected_reason=reason)
    elif action == A.PUBLISH:
        if notice is None:
            raise DomainError(_l("A claim is published as part of a notice."))
        values.update(notice_id=notice.id)
    elif action == A.PAY:
        payment_ref = " ".join((payment_ref or "").split())
        if not payment_ref or len(payment_ref) > 60:
            raise DomainError(_l("Give the payment reference (at most 60 characters)."),
                              field="payment_ref")
        if paid_on is None or paid_on > today:
            raise DomainError(_l("Give the payment date (not in the future)."), field="paid_on")
        notice_row = db.session.get(SubsidyNotice, claim.notice_id)
        if notice_row.ends_on >= today or paid_on <= notice_row.ends_on:
            raise DomainError(_l("The public notice runs until %(date)s; pay after it ends.",
                                 date=notice_row.ends_on.isoformat()))
        if open_objections(claim):
            raise DomainError(_l("An objection to this claim is still open."))
        _still_payable(claim, today)
        values.update(paid_on=paid_on, payment_ref=payment_ref)
        reason = reason or payment_ref
    # compare-and-set: of two people acting at once, the second finds the state moved on
    moved = db.session.execute(
        update(SubsidyClaim).where(SubsidyClaim.id == claim.id, SubsidyClaim.state == source.value)
        .values(state=target.value, updated_at=now, **values)
        .execution_options(synchronize_session=False)).rowcount
    if moved != 1:
        db.session.refresh(claim)
        raise InvalidTransition(_l("Someone else changed this claim just now; it is %(state)s.",
                                   state=claim.state_title))
    db.session.refresh(claim)
    _event(claim, actor, action.value, source, target, reason)
    audit.record(actor, f"subsidies.claim_{action.value}", claim, to_state=target.value,
                 reason=reason)
    _tell_claimant(claim, target)
    db.session.flush()
    return claim


def reject_claims_for_ban(actor, person_id: int, reason: str) -> list[SubsidyClaim]:
    """A ban rejects every claim of the person not yet paid, with the ban's reason (paid claims
    stay as they are)."""
    authorize(actor, can_apply_ban_effects)
    open_states = [s.value for (s, a) in TRANSITIONS if a == A.BAN]
    rejected = []
    for claim in db.session.scalars(select(SubsidyClaim).where(
            SubsidyClaim.person_id == person_id, SubsidyClaim.state.in_(open_states))
            .order_by(SubsidyClaim.id)):
        rejected.append(transition(actor, claim, A.BAN, reason=reason))
    return rejected


def _tell_claimant(claim: SubsidyClaim, target: ClaimState) -> None:
    link = url_for("subsidies.claim", claim_id=claim.id) if has_request_context() else ""
    user_id = registry.account_id(claim.person_id)
    params = {"ref": claim.reference}
    if target == S.CONFIRMED and claim.payee_kind == "person":
        notify(user_id, "subsidy.confirmed", link, **params)
    elif target == S.APPROVED:
        notify(user_id, "subsidy.approved", link, **params)
    elif target == S.REJECTED:
        notify(user_id, "subsidy.rejected", link, reason=claim.rejected_reason, **params)
    elif target == S.PUBLISHED:
        notify(user_id, "subsidy.published", link, until=claim.notice.ends_on.isoformat(), **params)
    elif target == S.PAID:
        notify(user_id, "subsidy.paid", link, amount=claim.amount, paid_on=claim.paid_on.isoformat(),
               **params)


@dataclass
class BatchOutcome:
    done: list[SubsidyClaim] = field(default_factory=list)
    refused: list[tuple[SubsidyClaim, str]] = field(default_factory=list)


def _claims(ids) -> list[SubsidyClaim]:
    ids = sorted({int(i) for i in ids})
    if not ids:
        return []
    return list(db.session.scalars(select(SubsidyClaim).where(SubsidyClaim.id.in_(ids))
                                   .order_by(SubsidyClaim.id)))


def _batch(claim_ids, act) -> BatchOutcome:
    """Each claim on its own: one refused claim does not stop the others."""
    outcome = BatchOutcome()
    claims = _claims(claim_ids)
    if not claims:
        raise DomainError(_l("Choose at least one claim."))
    for claim in claims:
        try:
            with db.session.begin_nested():
                act(claim)
            outcome.done.append(claim)
        except DomainError as err:
            db.session.refresh(claim)
            outcome.refused.append((claim, str(err)))
    return outcome


def approve_many(actor, claim_ids, today: date | None = None) -> BatchOutcome:
    from lms.subsidies.permissions import is_reviewer

    # the batch lists each claim it may not act on; the role is checked first, so a caller who
    # may act on no claim at all is refused outright
    authorize(actor, is_reviewer)
    return _batch(claim_ids, lambda c: transition(actor, c, A.APPROVE, today=today))


def confirm_many(actor, claim_ids, today: date | None = None) -> BatchOutcome:
    # confirming is the base's own word: its staff, not an administrator acting for it
    authorize(actor, is_base_staff)
    return _batch(claim_ids, lambda c: transition(actor, c, A.CONFIRM, today=today))


def publish(actor, claim_ids, *, title: str = "", today: date | None = None) -> tuple[SubsidyNotice, BatchOutcome]:
    """Put approved claims in a new public notice that runs for the configured days."""
    today = today or local_today()
    claims = _claims(claim_ids)
    if not claims:
        raise DomainError(_l("Choose at least one claim."))
    if not all(reviews(actor, c.district_id) for c in claims):
        raise PermissionDenied(_l("You may not publish these claims."))
    days = get_setting("subsidies.notice_days", None, today)
    notice = SubsidyNotice(
        title=(title or "").strip()[:120] or str(_l("Training subsidies to be paid, notice of %(date)s",
                                                    date=today.isoformat())),
        starts_on=today, ends_on=today + timedelta(days=days - 1), published_by_id=actor.id,
        bureau_id=actor.organisation_id)
    db.session.add(notice)
    db.session.flush()
    outcome = _batch([c.id for c in claims],
                     lambda c: transition(actor, c, A.PUBLISH, notice=notice, today=today))
    if not outcome.done:
        raise DomainError("；".join(f"{c.reference}: {err}" for c, err in outcome.refused))
    audit.record(actor, "subsidies.notice_published", notice, claims=len(outcome.done))
    return notice, outcome


def pay_many(actor, claim_ids, *, payment_ref: str, paid_on: date | None,
             today: date | None = None) -> BatchOutcome:
    from lms.subsidies.permissions import is_reviewer

    authorize(actor, is_reviewer)
    return _batch(claim_ids, lambda c: transition(actor, c, A.PAY, payment_ref=payment_ref,
                                                  paid_on=paid_on, today=today))


# --- objections -----------------------------------------------------------------------------------


def open_objections(claim: SubsidyClaim) -> list[Objection]:
    return list(db.session.scalars(select(Objection).where(
        Objection.claim_id == claim.id, Objection.outcome == "open")))


def objections(claim: SubsidyClaim) -> list[Objection]:
    return list(db.session.scalars(select(Objection).where(Objection.claim_id == claim.id)
                                   .order_by(Objection.id)))


def may_record_objection(user, claim: SubsidyClaim) -> bool:
    """Objections are recorded by the claim's reviewers while it is in the public notice."""
    return reviews(user, claim.district_id) and claim.state == S.PUBLISHED


def record_objection(actor, claim: SubsidyClaim, summary: str, received_on: date | None,
                     today: date | None = None) -> Objection:
    """An objection received during the notice: it holds the payment until resolved."""
    today = today or local_today()
    if not reviews(actor, claim.district_id):
        raise PermissionDenied(_l("You may not record objections to this claim."))
    if not may_record_objection(actor, claim):
        raise InvalidTransition(_l("Objections are recorded while a claim is in the public notice."))
    summary = (summary or "").strip()
    if not summary:
        raise DomainError(_l("Say what the objection is."), field="summary")
    if received_on is None or received_on > today or received_on < claim.notice.starts_on:
        raise DomainError(_l("Give the day it was received (during the notice, not in the future)."),
                          field="received_on")
    row = Objection(claim_id=claim.id, received_on=received_on, summary=summary[:2000],
                    recorded_by_id=actor.id)
    db.session.add(row)
    db.session.flush()
    _event(claim, actor, "objection", S.PUBLISHED, S.PUBLISHED, summary[:2000])
    audit.record(actor, "subsidies.objection_recorded", claim, objection_id=row.id)
    return row


def resolve_objection(actor, objection: Objection, *, upheld: bool, resolution: str,
                      today: date | None = None) -> Objection:
    """Dismiss it (the claim goes on to payment) or uphold it (the claim is rejected)."""
    claim = db.session.get(SubsidyClaim, objection.claim_id)
    if not reviews(actor, claim.district_id):
        raise PermissionDenied(_l("You may not resolve objections to this claim."))
    if objection.outcome != "open":
        raise DomainError(_l("This objection was already resolved."))
    resolution = (resolution or "").strip()
    if not resolution:
        raise ReasonRequired(_l("Say how the objection was resolved."), field="resolution")
    objection.outcome = "upheld" if upheld else "dismissed"
    objection.resolution = resolution[:2000]
    objection.resolved_by_id = actor.id
    objection.resolved_at = utc_now()
    db.session.flush()
    if upheld:
        transition(actor, claim, A.REJECT, reason=resolution, today=today)
    else:
        _event(claim, actor, "objection_dismissed", S.PUBLISHED, S.PUBLISHED, resolution)
    audit.record(actor, "subsidies.objection_resolved", claim, objection_id=objection.id,
                 outcome=objection.outcome)
    return objection


# --- reading --------------------------------------------------------------------------------------


def events(claim: SubsidyClaim) -> list[ClaimEvent]:
    return list(db.session.scalars(select(ClaimEvent).where(ClaimEvent.claim_id == claim.id)
                                   .order_by(ClaimEvent.id)))


def claims_of_person(person_id: int) -> list[SubsidyClaim]:
    return list(db.session.scalars(select(SubsidyClaim).where(SubsidyClaim.person_id == person_id)
                                   .order_by(SubsidyClaim.id.desc())))


def claims_of_base(base: Organisation, state: str = "") -> list[SubsidyClaim]:
    query = select(SubsidyClaim).where(SubsidyClaim.base_id == base.id)
    if state:
        query = query.where(SubsidyClaim.state == state)
    return list(db.session.scalars(query.order_by(SubsidyClaim.id.desc()).limit(500)))


def claimable_sittings(base: Organisation, limit: int = 20) -> list[ExamSitting]:
    """The base's latest sittings that left certificates (what a batch claim starts from)."""
    from lms.exams.models import Registration

    return list(db.session.scalars(
        select(ExamSitting).where(ExamSitting.organisation_id == base.id, ExamSitting.id.in_(
            select(Registration.sitting_id).join(Certificate, Certificate.registration_id == Registration.id)))
        .order_by(ExamSitting.starts_at.desc()).limit(limit)))


def reviewer_summary(actor, today: date | None = None) -> dict[str, int]:
    """What waits for a reviewer: claims to approve (first and second approval), to publish,
    to pay (notice over, no open objection), and open objections."""
    today = today or local_today()
    scope = and_(true(), *_conditions(actor, QueueFilter()))
    counts = dict(db.session.execute(select(SubsidyClaim.state, func.count()).where(scope)
                                     .group_by(SubsidyClaim.state)).all())
    payable = db.session.scalar(
        select(func.count(SubsidyClaim.id)).join(SubsidyNotice, SubsidyNotice.id == SubsidyClaim.notice_id)
        .where(scope, SubsidyClaim.state == S.PUBLISHED.value, SubsidyNotice.ends_on < today,
               ~SubsidyClaim.id.in_(select(Objection.claim_id).where(Objection.outcome == "open"))))
    objections_open = db.session.scalar(
        select(func.count(Objection.id)).join(SubsidyClaim, SubsidyClaim.id == Objection.claim_id)
        .where(scope, Objection.outcome == "open"))
    return {"confirmed": counts.get(S.CONFIRMED.value, 0),
            "second_review": counts.get(S.SECOND_REVIEW.value, 0),
            "approved": counts.get(S.APPROVED.value, 0), "payable": payable or 0,
            "objections": objections_open or 0}


def my_certificates(person_id: int, on: date | None = None) -> list[tuple[Certificate, Eligibility, SubsidyClaim | None]]:
    """A caregiver's certificates with whether each can be claimed, and its live claim."""
    live = {c.certificate_id: c for c in db.session.scalars(_live_claims(person_id))}
    return [(cert, eligibility(cert, on), live.get(cert.id))
            for cert in certificates.of_person(person_id)]


def notices(current_only: bool = False, today: date | None = None) -> list[SubsidyNotice]:
    today = today or local_today()
    query = select(SubsidyNotice)
    if current_only:
        query = query.where(SubsidyNotice.starts_on <= today, SubsidyNotice.ends_on >= today)
    return list(db.session.scalars(query.order_by(SubsidyNotice.id.desc()).limit(100)))


def notice_rows(notice: SubsidyNotice) -> list[dict]:
    """What the public sees: masked names, the certificate, the base, the amount."""
    rows = []
    for claim in db.session.scalars(select(SubsidyClaim).where(
            SubsidyClaim.notice_id == notice.id).order_by(SubsidyClaim.id)):
        rows.append({"reference": claim.reference, "name": mask_name(claim.person.name),
                     "type": claim.qualification_type.name_zh,
                     "level": str(LEVEL_TITLES[claim.level]) if claim.level else "",
                     "base": claim.base.name, "amount": claim.amount})
    return rows


# --- the reviewers' queue -------------------------------------------------------------------------

#: a filter value meaning "approved, in notice or paid" (what the export covers)
PAYABLE = "payable"


@dataclass
class QueueFilter:
    district_id: int | None = None
    base_id: int | None = None
    qualification_type_id: int | None = None
    state: str = ""
    date_from: date | None = None
    date_to: date | None = None

    @classmethod
    def from_args(cls, args) -> QueueFilter:
        def number(key):
            value = str(args.get(key, ""))
            # ASCII digits within the ids' range; anything else filters nothing
            return int(value) if value.isascii() and value.isdigit() and len(value) <= 9 else None

        def day(key):
            try:
                return date.fromisoformat(args.get(key, ""))
            except ValueError:
                return None

        state = args.get("state", "")
        if state not in {s.value for s in ClaimState} | {PAYABLE}:
            state = ""
        return cls(number("district"), number("base"), number("type"), state, day("from"), day("to"))

    def as_args(self) -> dict:
        return {k: v for k, v in {
            "district": self.district_id, "base": self.base_id, "type": self.qualification_type_id,
            "state": self.state, "from": self.date_from.isoformat() if self.date_from else None,
            "to": self.date_to.isoformat() if self.date_to else None}.items() if v}


def _conditions(actor, filters: QueueFilter, states=None) -> list:
    conditions = []
    if actor.role != Role.ADMIN and actor.district_id is not None:
        conditions.append(SubsidyClaim.district_id == actor.district_id)
    if filters.district_id:
        conditions.append(SubsidyClaim.district_id == filters.district_id)
    if filters.base_id:
        conditions.append(SubsidyClaim.base_id == filters.base_id)
    if filters.qualification_type_id:
        conditions.append(SubsidyClaim.qualification_type_id == filters.qualification_type_id)
    if filters.state == PAYABLE:
        conditions.append(SubsidyClaim.state.in_([s.value for s in EXPORT_STATES]))
    elif filters.state:
        conditions.append(SubsidyClaim.state == filters.state)
    if states is not None:
        conditions.append(SubsidyClaim.state.in_([s.value for s in states]))
    if filters.date_from:
        conditions.append(SubsidyClaim.submitted_at >= to_utc(datetime.combine(filters.date_from, datetime.min.time())))
    if filters.date_to:
        conditions.append(SubsidyClaim.submitted_at < to_utc(datetime.combine(filters.date_to + timedelta(days=1),
                                                                      datetime.min.time())))
    return conditions


@dataclass
class StateTotal:
    state: ClaimState
    count: int
    total: Decimal


@dataclass
class QueuePage:
    pagination: object  # flask_sqlalchemy Pagination of SubsidyClaim
    #: every claim the filter matches, whatever its state
    count: int
    #: the money of the live claims only: rejected and withdrawn claims will never be paid
    total: Decimal
    live: int
    #: count and money per state, in the states' order
    by_state: list[StateTotal]


def queue(actor, filters: QueueFilter, page: int = 1, per_page: int = 50) -> QueuePage:
    """The claims a reviewer may see, filtered, oldest first, with the count of all of them (not
    only the page shown), the money of the live ones, and both per state."""
    where = and_(true(), *_conditions(actor, filters))
    sums = {state: (count, total) for state, count, total in db.session.execute(
        select(SubsidyClaim.state, func.count(SubsidyClaim.id),
               func.coalesce(func.sum(SubsidyClaim.amount), 0))
        .where(where).group_by(SubsidyClaim.state))}
    cents = Decimal("0.01")
    by_state = [StateTotal(s, sums[s.value][0], Decimal(sums[s.value][1]).quantize(cents))
                for s in ClaimState if s.value in sums]
    live = [row for row in by_state if row.state not in CLOSED_STATES]
    pagination = db.paginate(
        select(SubsidyClaim).options(selectinload(SubsidyClaim.notice)).where(where)
        .order_by(SubsidyClaim.submitted_at, SubsidyClaim.id),
        page=page, per_page=per_page, error_out=False)
    return QueuePage(pagination, sum(row.count for row in by_state),
                     sum((row.total for row in live), Decimal("0.00")),
                     sum(row.count for row in live), by_state)


def export_rows(actor, filters: QueueFilter) -> tuple[list[SubsidyClaim], Decimal]:
    where = and_(true(), *_conditions(actor, filters, EXPORT_STATES))
    claims = list(db.session.scalars(select(SubsidyClaim).options(selectinload(SubsidyClaim.notice))
                                     .where(where).order_by(SubsidyClaim.submitted_at, SubsidyClaim.id)))
    return claims, sum((c.amount for c in claims), Decimal("0.00"))


def export_xlsx(actor, filters: QueueFilter) -> bytes:
    """Approved and paid claims under the current filters, for payment, with a totals row equal
    to the screen's. The account number is shown in full (the bank needs it); the identity number
    is masked. Logged."""
    claims, total = export_rows(actor, filters)
    headers = [_("Claim"), _("Name"), _("Identity number"), _("Certificate"), _("Level"),
               _("Certificate number"), _("Training base"), _("Amount (yuan)"), _("State"),
               _("Approved on"), _("Notice ends"), _("Paid on"), _("Payment reference"),
               _("Payee"), _("Bank"), _("Bank account")]
    rows = [[c.reference, c.person.name, mask_id_number(c.person.id_number),
             c.qualification_type.name_zh, str(LEVEL_TITLES[c.level]) if c.level else "",
             c.certificate.number, c.base.name, c.amount, c.state_title,
             to_local(c.approved_at).date() if c.approved_at else None,
             c.notice.ends_on if c.notice else None, c.paid_on, c.payment_ref,
             c.payee_name, c.bank_name, c.bank_account] for c in claims]
    rows.append([_("Total"), _("%(num)s claims", num=len(claims)), "", "", "", "", "", total])
    audit.record(actor, "subsidies.exported", object_type="subsidy_claims", claims=len(claims), total=str(total),
                 filters=filters.as_args())
    return write_xlsx(headers, rows, text_columns={0, 2, 5, 12, 15}, sheet_name="subsidies",
                      column_widths={1: 12, 3: 18, 5: 22, 6: 20, 13: 20, 14: 24, 15: 24})


# --- the schedule: a notice's end told to HR ---------------------------------------------------------


def report_ended_notices(actor, today: date | None = None) -> list[SubsidyNotice]:
    """Tell the HR reviewers of each notice's claims that its public notice has ended (the day
    after its last day), once per notice however often the daily schedule runs: how many of its
    claims may now be paid and how many wait on an open objection."""
    from lms.auth.models import User
    from lms.subsidies.permissions import runs_subsidy_jobs

    authorize(actor, runs_subsidy_jobs)
    today = today or local_today()
    ended = list(db.session.scalars(select(SubsidyNotice).where(
        SubsidyNotice.ends_on < today, SubsidyNotice.end_reported_at.is_(None))
        .order_by(SubsidyNotice.id).with_for_update(skip_locked=True)))
    if not ended:
        return []
    reviewers = list(db.session.scalars(select(User).where(
        User.role == Role.HR_REVIEWER.value, User.is_enabled.is_(True)).order_by(User.id)))
    held_ids = select(Objection.claim_id).where(Objection.outcome == "open")
    for notice in ended:
        claims = db.session.execute(
            select(SubsidyClaim.district_id, SubsidyClaim.id.in_(held_ids))
            .where(SubsidyClaim.notice_id == notice.id,
                   SubsidyClaim.state == S.PUBLISHED.value)).all()
        for user in reviewers:
            mine = [held for district_id, held in claims if reviews(user, district_id)]
            if not mine:
                continue
            notify(user.id, "subsidy.notice_ended", url_for_review(state=S.PUBLISHED.value),
                   title=notice.title, ends_on=notice.ends_on.isoformat(),
                   payable=sum(1 for held in mine if not held), held=sum(1 for held in mine if held))
        notice.end_reported_at = utc_now()
        audit.record(actor, "subsidies.notice_ended_reported", notice, claims=len(claims))
    db.session.flush()
    return ended


def url_for_review(**args) -> str:
    from urllib.parse import urlencode

    return "/subsidies/review" + ("?" + urlencode(args) if args else "")


# --- a large export as a job ----------------------------------------------------------------------
# Past EXPORT_JOB_ROWS claims the export is made by a worker, as the reviewer who asked (their
# district decides the claims), from the same export_xlsx; the file waits for them on the job page.

EXPORT_JOB = "subsidies.export"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
jobs.titled(EXPORT_JOB, _l("Subsidy claims export"))


def export_count(actor, filters: QueueFilter) -> int:
    """How many claims the export holds (its rows, the totals row aside)."""
    where = and_(true(), *_conditions(actor, filters, EXPORT_STATES))
    return db.session.scalar(select(func.count(SubsidyClaim.id)).where(where)) or 0


def export_file_name() -> str:
    return _("subsidies-%(date)s.xlsx", date=local_today().isoformat())


def start_export(actor, filters: QueueFilter, *, locale: str = "",
                 queue: bool = True) -> bytes | jobs.Job | jobs.ExportNeedsJob:
    """The export: the file itself, or past EXPORT_JOB_ROWS claims a queued job that makes it
    (jobs.submit starts it; its page then links to the file). With queue=False (a link
    followed) a big export only says its size: the reviewer starts the job."""
    from lms.subsidies.permissions import is_reviewer

    authorize(actor, is_reviewer)
    rows = export_count(actor, filters)
    if rows <= jobs.export_job_rows():
        return export_xlsx(actor, filters)
    if not queue:
        return jobs.ExportNeedsJob(rows)
    return jobs.start_export(EXPORT_JOB, actor, {"filters": filters.as_args(),
                                                 "filename": export_file_name()},
                             rows=rows, locale=locale)


def run_export(job: jobs.Job, progress) -> tuple[dict, str]:
    """The job's work: export_xlsx as the reviewer who asked, kept for them to download."""
    from lms.auth.models import User

    user = db.session.get(User, job.created_by_id) if job.created_by_id else None
    jobs.check_requester(job, user)
    filters = QueueFilter.from_args(job.params.get("filters") or {})
    progress("export", 0, job.params.get("rows", 1))
    data = export_xlsx(user, filters)
    link = jobs.keep_output(job, data, job.params.get("filename") or export_file_name(), XLSX)
    return {"rows": export_count(user, filters)}, link


def mask_account(account: str) -> str:
    """Only the last four digits: enough to recognise one's card, useless to anyone else."""
    return "•••• " + account[-4:] if account else ""
