"""Training subsidies (职业培训补贴): dated standards, claims and their history, public notices
(公示) and the objections raised during them."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lms.certificates.models import Certificate
from lms.core.crypto import BANK_ACCOUNT, Encrypted
from lms.core.enums import TitledEnum, enum_check
from lms.core.models import utcnow
from lms.extensions import db
from lms.registry.models import Organisation, Person, QualificationType

MONEY = Numeric(12, 2)


class ClaimState(TitledEnum):
    SUBMITTED = "submitted"
    CONFIRMED = "confirmed"
    SECOND_REVIEW = "second_review"
    APPROVED = "approved"
    REJECTED = "rejected"
    PUBLISHED = "published"
    PAID = "paid"
    WITHDRAWN = "withdrawn"

    @classmethod
    def titles(cls):
        return {
            cls.SUBMITTED: _l("Submitted"),
            cls.CONFIRMED: _l("Confirmed by the training base"),
            cls.SECOND_REVIEW: _l("Awaiting a second approver"),
            cls.APPROVED: _l("Approved"),
            cls.REJECTED: _l("Rejected"),
            cls.PUBLISHED: _l("In public notice"),
            cls.PAID: _l("Paid"),
            cls.WITHDRAWN: _l("Withdrawn"),
        }


#: the states in which a claim no longer counts: it neither blocks another claim for the same
#: occupation and level (the partial unique index below) nor adds to the money in the queue
CLOSED_STATES = (ClaimState.REJECTED, ClaimState.WITHDRAWN)
#: the partial index's condition, from the same constant (the migration carries it as of then)
_LIVE = "state NOT IN ({})".format(", ".join(f"'{s.value}'" for s in CLOSED_STATES))


class ClaimAction(TitledEnum):
    CONFIRM = "confirm"
    APPROVE = "approve"
    REJECT = "reject"
    PUBLISH = "publish"
    PAY = "pay"
    WITHDRAW = "withdraw"
    #: a ban rejects every claim not yet paid (the regulator's decision, not a reviewer's)
    BAN = "ban"

    @classmethod
    def titles(cls):
        return {
            cls.BAN: _l("Rejected: the person is banned"),
            cls.CONFIRM: _l("Confirm"),
            cls.APPROVE: _l("Approve"),
            cls.REJECT: _l("Reject"),
            cls.PUBLISH: _l("Publish in the notice"),
            cls.PAY: _l("Mark paid"),
            cls.WITHDRAW: _l("Withdraw"),
        }


#: the note of the standards seeded at installation (shown translated, never as the code)
SEED_NOTE = "seed"


class SubsidyStandard(db.Model):
    """The amount paid for a certificate type and level from a date on. Never edited: a new
    amount is a new row with its own date, so the history stays."""

    __tablename__ = "subsidy_standards"
    __table_args__ = (Index("ix_subsidy_standards_lookup", "qualification_type_id", "level",
                            "effective_from"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    qualification_type_id: Mapped[int] = mapped_column(ForeignKey("qualification_types.id"))
    #: 5 .. 1, or 0 for a type without levels
    level: Mapped[int] = mapped_column(Integer)
    amount: Mapped[Decimal] = mapped_column(MONEY)
    effective_from: Mapped[date] = mapped_column(Date)
    note: Mapped[str] = mapped_column(String(200), default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    qualification_type: Mapped[QualificationType] = relationship(lazy="joined")

    @property
    def note_text(self) -> str:
        """The note as people read it: the seed's code translated, anything else as typed."""
        if self.note == SEED_NOTE:
            return str(_l("Example amount seeded at installation; enter the city's published "
                          "standard"))
        return self.note


class SubsidyNotice(db.Model):
    """A public notice (公示): approved claims shown, names masked, for a set number of days
    before they are paid."""

    __tablename__ = "subsidy_notices"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(120))
    starts_on: Mapped[date] = mapped_column(Date)
    #: the last day objections are received
    ends_on: Mapped[date] = mapped_column(Date)
    published_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: the HR bureau that published it: objections go to that bureau (ObjectionContact)
    bureau_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    #: when HR was told the notice had ended (claim-notice-ended, once per notice)
    end_reported_at: Mapped[datetime | None] = mapped_column(DateTime)

    bureau: Mapped[Organisation | None] = relationship()


class ObjectionContact(db.Model):
    """Where the public objects to an HR bureau's subsidy notices (address, telephone, mailbox),
    one per bureau, set by an administrator and printed on every notice of that bureau."""

    __tablename__ = "subsidy_objection_contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), unique=True)
    contact: Mapped[str] = mapped_column(String(300))
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class SubsidyClaim(db.Model):
    """One claim for one certificate. Its state changes only through the service's transition
    table; each change is a ClaimEvent."""

    __tablename__ = "subsidy_claims"
    __table_args__ = (
        enum_check("state", ClaimState),
        # each occupation and level is subsidised once per person: one live claim, however many
        # submissions arrive at once (level 0: a type without levels)
        Index("uq_subsidy_claims_live", "person_id", "qualification_type_id", "level", unique=True,
              sqlite_where=text(_LIVE), postgresql_where=text(_LIVE)),
        Index("ix_subsidy_claims_queue", "state", "submitted_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    certificate_id: Mapped[int] = mapped_column(ForeignKey("certificates.id"), index=True)
    qualification_type_id: Mapped[int] = mapped_column(ForeignKey("qualification_types.id"))
    level: Mapped[int] = mapped_column(Integer)
    #: the training base that issued the certificate (it confirms the claim)
    base_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    #: the base's district, for the reviewers' scope and filters
    district_id: Mapped[int] = mapped_column(ForeignKey("districts.id"), index=True)
    standard_id: Mapped[int] = mapped_column(ForeignKey("subsidy_standards.id"))
    #: from the standard in force on the certificate's issue date, never from a request
    amount: Mapped[Decimal] = mapped_column(MONEY)
    state: Mapped[str] = mapped_column(String(16))
    #: the calendar year it was submitted in (the yearly limit counts these)
    year: Mapped[int] = mapped_column(Integer)
    #: "person" (the caregiver's own account) or "base" (a base claiming for its trainees)
    payee_kind: Mapped[str] = mapped_column(String(8))
    payee_name: Mapped[str] = mapped_column(String(120))
    bank_name: Mapped[str] = mapped_column(String(80))
    #: encrypted at rest (lms.core.crypto); pages show it masked, the payment export in full
    bank_account: Mapped[str] = mapped_column("bank_account_enc", Encrypted(BANK_ACCOUNT))
    submitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    submitted_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    confirmed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime)
    #: above the threshold: the first of two approvers
    first_approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    approved_at: Mapped[datetime | None] = mapped_column(DateTime)
    rejected_reason: Mapped[str] = mapped_column(Text, default="")
    notice_id: Mapped[int | None] = mapped_column(ForeignKey("subsidy_notices.id"), index=True)
    paid_on: Mapped[date | None] = mapped_column(Date)
    payment_ref: Mapped[str] = mapped_column(String(60), default="")
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    person: Mapped[Person] = relationship(lazy="joined")
    certificate: Mapped[Certificate] = relationship(lazy="joined")
    qualification_type: Mapped[QualificationType] = relationship(lazy="joined")
    base: Mapped[Organisation] = relationship(lazy="joined")
    notice: Mapped[SubsidyNotice | None] = relationship()

    @property
    def reference(self) -> str:
        """What people quote on the phone: BT + year + six digits."""
        return f"BT{self.year}{self.id:06d}"

    @property
    def state_title(self) -> str:
        return ClaimState(self.state).title

    @property
    def state_badge(self) -> str:
        """The badge colour pages show the state in (closed red, paid green, else blue)."""
        if self.state in CLOSED_STATES:
            return "danger"
        return "success" if self.state == ClaimState.PAID else "info"

    @property
    def in_notice(self) -> bool:
        """In the public notice now (the notice's end date is shown beside it)."""
        return self.state == ClaimState.PUBLISHED and self.notice is not None


class ClaimEvent(db.Model):
    """Who moved a claim from which state to which, when and why."""

    __tablename__ = "subsidy_claim_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    claim_id: Mapped[int] = mapped_column(ForeignKey("subsidy_claims.id"), index=True)
    action: Mapped[str] = mapped_column(String(24))
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor_label: Mapped[str] = mapped_column(String(120), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    @property
    def action_title(self) -> str:
        if self.action == "submit":
            return str(_l("Submitted"))
        if self.action.startswith("objection"):
            return str(OBJECTION_TITLES.get(self.action, self.action))
        return ClaimAction(self.action).title


OBJECTION_TITLES = {
    "objection": _l("Objection recorded"),
    "objection_dismissed": _l("Objection dismissed"),
    "objection_upheld": _l("Objection upheld"),
}


class Objection(db.Model):
    """An objection received while a claim was in the public notice. An open objection holds
    the payment; upholding it rejects the claim."""

    __tablename__ = "subsidy_objections"

    id: Mapped[int] = mapped_column(primary_key=True)
    claim_id: Mapped[int] = mapped_column(ForeignKey("subsidy_claims.id"), index=True)
    received_on: Mapped[date] = mapped_column(Date)
    summary: Mapped[str] = mapped_column(Text)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    #: open | dismissed | upheld
    outcome: Mapped[str] = mapped_column(String(10), default="open")
    resolution: Mapped[str] = mapped_column(Text, default="")
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime)
