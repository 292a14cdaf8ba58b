"""The practitioner registry: persons, organisations, employments, qualifications, bans."""

from __future__ import annotations

import functools
from datetime import date, datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.ext.hybrid import Comparator, hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.sql import operators

from lms.core.crypto import ID_NUMBER, Encrypted, Keyring, keyring
from lms.core.enums import TitledEnum, enum_check
from lms.core.models import District, TimestampMixin, utcnow
from lms.extensions import db


class OrgKind(TitledEnum):
    INSTITUTION = "institution"
    TRAINING_BASE = "training_base"
    HR_BUREAU = "hr_bureau"
    HEALTH_COMMISSION = "health_commission"

    @classmethod
    def titles(cls):
        return {
            cls.INSTITUTION: _l("Childcare institution"),
            cls.TRAINING_BASE: _l("Training base"),
            cls.HR_BUREAU: _l("HR bureau"),
            cls.HEALTH_COMMISSION: _l("Health commission"),
        }


class Post(TitledEnum):
    """Posts in a childcare institution (DESIGN §1)."""

    DIRECTOR = "director"  # 专职负责人
    EARLY_EDUCATOR = "early_educator"  # 幼教人员
    INFANT_CARER = "infant_carer"  # 育婴员
    HEALTH_CARE = "health_care"  # 卫生保健员
    MEDICAL = "medical"  # 专业医务人员
    NURSERY_CARER = "nursery_carer"  # 保育员
    FINANCE = "finance"  # 财务人员
    SECURITY = "security"  # 保安人员
    FOOD_SAFETY = "food_safety"  # 食品安全管理人员

    @classmethod
    def titles(cls):
        return {
            cls.DIRECTOR: _l("Director in charge"),
            cls.EARLY_EDUCATOR: _l("Early-childhood educator"),
            cls.INFANT_CARER: _l("Infant carer"),
            cls.HEALTH_CARE: _l("Health-care worker"),
            cls.MEDICAL: _l("Medical professional"),
            cls.NURSERY_CARER: _l("Nursery carer"),
            cls.FINANCE: _l("Finance staff"),
            cls.SECURITY: _l("Security guard"),
            cls.FOOD_SAFETY: _l("Food-safety manager"),
        }

    @classmethod
    @functools.cache
    def chinese_names(cls) -> dict[str, Post]:
        """The names rosters use, whatever the interface language."""
        return {
            "专职负责人": cls.DIRECTOR, "负责人": cls.DIRECTOR, "幼教人员": cls.EARLY_EDUCATOR,
            "育婴员": cls.INFANT_CARER, "卫生保健员": cls.HEALTH_CARE, "保健员": cls.HEALTH_CARE,
            "专业医务人员": cls.MEDICAL, "医务人员": cls.MEDICAL, "保育员": cls.NURSERY_CARER,
            "保育师": cls.NURSERY_CARER, "财务人员": cls.FINANCE, "保安人员": cls.SECURITY,
            "保安员": cls.SECURITY, "食品安全管理人员": cls.FOOD_SAFETY,
            # the same names in Traditional characters
            "專職負責人": cls.DIRECTOR, "負責人": cls.DIRECTOR, "幼教人員": cls.EARLY_EDUCATOR,
            "育嬰員": cls.INFANT_CARER, "衛生保健員": cls.HEALTH_CARE, "保健員": cls.HEALTH_CARE,
            "專業醫務人員": cls.MEDICAL, "醫務人員": cls.MEDICAL, "保育員": cls.NURSERY_CARER,
            "保育師": cls.NURSERY_CARER, "財務人員": cls.FINANCE, "保安人員": cls.SECURITY,
            "保安員": cls.SECURITY, "食品安全管理人員": cls.FOOD_SAFETY,
        }

    @property
    def chinese(self) -> str:
        return next(k for k, v in self.chinese_names().items() if v is self)


class Gender(TitledEnum):
    MALE = "male"
    FEMALE = "female"

    @classmethod
    def titles(cls):
        return {cls.MALE: _l("Male"), cls.FEMALE: _l("Female")}


class BanKind(TitledEnum):
    LIFETIME = "lifetime"
    TERM = "term"

    @classmethod
    def titles(cls):
        return {cls.LIFETIME: _l("Lifetime ban"), cls.TERM: _l("Ban for a term")}


class BanCategory(TitledEnum):
    CHILD_ABUSE = "child_abuse"  # 虐童
    ETHICS = "ethics"  # 违反职业道德
    OTHER = "other"

    @classmethod
    def titles(cls):
        return {cls.CHILD_ABUSE: _l("Child abuse"), cls.ETHICS: _l("Violation of professional ethics"),
                cls.OTHER: _l("Other")}


class BanState(TitledEnum):
    IN_FORCE = "in_force"
    #: lifted early by two regulators (four eyes)
    LIFTED = "lifted"
    #: removed as recorded in error by two regulators (four eyes)
    ANNULLED = "annulled"
    #: a term ban past its end date (the gate already ignores it from that day)
    EXPIRED = "expired"

    @classmethod
    def titles(cls):
        return {cls.IN_FORCE: _l("In force"), cls.LIFTED: _l("Lifted"),
                cls.ANNULLED: _l("Annulled (recorded in error)"), cls.EXPIRED: _l("Expired")}


class BanAction(TitledEnum):
    LIFT = "lift"
    ANNUL = "annul"
    EXPIRE = "expire"

    @classmethod
    def titles(cls):
        return {cls.LIFT: _l("Lift the ban early"), cls.ANNUL: _l("Annul the ban (recorded in error)"),
                cls.EXPIRE: _l("Expire at the end of its term")}


class LiftRequestState(TitledEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REFUSED = "refused"

    @classmethod
    def titles(cls):
        return {cls.PENDING: _l("Awaiting a second regulator"), cls.APPROVED: _l("Approved"),
                cls.REFUSED: _l("Refused")}


class LiftRequestAction(TitledEnum):
    APPROVE = "approve"
    REFUSE = "refuse"

    @classmethod
    def titles(cls):
        return {cls.APPROVE: _l("Approve"), cls.REFUSE: _l("Refuse")}


class EmploymentState(TitledEnum):
    CURRENT = "current"
    ENDED = "ended"

    @classmethod
    def titles(cls):
        return {cls.CURRENT: _l("current"), cls.ENDED: _l("ended")}


class EmploymentAction(TitledEnum):
    END = "end"

    @classmethod
    def titles(cls):
        return {cls.END: _l("End employment")}


# --- identity numbers, encrypted at rest (lms.core.crypto) ----------------------------------------


class IdNumberComparator(Comparator):
    """SQL on an encrypted identity number: `==`, `!=`, `in_` and joins (`Ban.id_number ==
    Person.id_number`) compare the keyed lookup hashes; `endswith` takes exactly the last four
    (the staff list's search) and compares their keyed hash. Selecting the attribute selects the
    ciphertext, which its column type decrypts. Anything else (LIKE, ordering) has no meaning
    on ciphertext and raises."""

    def __init__(self, cls):
        super().__init__(cls._id_number)
        self.cls = cls

    def _hash_of(self, other):
        other = getattr(other, "comparator", other)  # the class attribute proxies it
        if isinstance(other, IdNumberComparator):
            return other.cls.id_number_hash
        if other is None:
            return None
        if not isinstance(other, str):
            raise TypeError(f"compare an identity number with a string, not {type(other)}")
        return keyring().lookup(other)

    def hashed(self, values):
        """The lookup hash column and the hashes of `values` (lms.core.bulk.one_of)."""
        ring = keyring()
        return self.cls.id_number_hash, [ring.lookup(v) for v in values]

    def operate(self, op, *other, **kwargs):
        if op in (operators.eq, operators.ne):
            return op(self.cls.id_number_hash, self._hash_of(other[0]))
        if op is operators.in_op:
            column, hashes = self.hashed(other[0])
            return column.in_(hashes)
        if op is operators.endswith_op:
            if len(other[0]) != 4:
                raise ValueError("an encrypted identity number is searched by its last four only")
            return self.cls.id_number_tail == keyring().tail_lookup(other[0])
        raise NotImplementedError(f"{op.__name__} on an encrypted identity number")

    def reverse_operate(self, op, other, **kwargs):
        return self.operate(op, other, **kwargs)


class EncryptedIdNumber:
    """`id_number`: the normalised 居民身份证号, stored encrypted with its keyed hashes. Reading
    gives the number; assigning sets the ciphertext and both hashes; queries compare hashes
    (IdNumberComparator). The subclass declares `id_number_hash` (unique or merely indexed)."""

    #: AES-GCM ciphertext of the number (the column type encrypts and decrypts)
    _id_number: Mapped[str] = mapped_column("id_number_enc", Encrypted(ID_NUMBER))
    #: keyed hash of the last four characters (the staff list's "last four" search)
    id_number_tail: Mapped[str] = mapped_column(String(64))

    @hybrid_property
    def id_number(self) -> str:
        return self._id_number

    @id_number.inplace.setter
    def _id_number_setter(self, value: str) -> None:
        self._id_number = value
        self.id_number_hash, self.id_number_tail = id_number_columns(value)[1:]

    @id_number.inplace.comparator
    @classmethod
    def _id_number_comparator(cls) -> IdNumberComparator:
        return IdNumberComparator(cls)


def id_number_columns(number: str, ring: Keyring | None = None) -> tuple[str, str, str]:
    """The plaintext for the encrypting column, the lookup hash and the tail hash: what bulk
    writers put in `id_number_enc`, `id_number_hash` and `id_number_tail` (`ring`: the keys,
    when a loop over many numbers has them at hand)."""
    ring = ring or keyring()
    return number, ring.lookup(number), ring.tail_lookup(number)


def id_number_row(number: str) -> dict[str, str]:
    """The three columns of a number as a bulk_insert row's keys."""
    enc, lookup, tail = id_number_columns(number)
    return {"id_number_enc": enc, "id_number_hash": lookup, "id_number_tail": tail}


class Organisation(TimestampMixin, db.Model):
    __tablename__ = "organisations"
    __table_args__ = (enum_check("kind", OrgKind),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), index=True)
    name: Mapped[str] = mapped_column(String(120))
    district_id: Mapped[int] = mapped_column(ForeignKey("districts.id"), index=True)
    #: 统一社会信用代码, normalised (GB 32100)
    credit_code: Mapped[str | None] = mapped_column(String(18), unique=True)
    #: 备案号: the filing number a childcare institution receives from the health commission
    filing_no: Mapped[str | None] = mapped_column(String(40), unique=True)
    address: Mapped[str] = mapped_column(String(200), default="")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)

    district: Mapped[District] = relationship(lazy="joined")

    @property
    def kind_title(self) -> str:
        return OrgKind(self.kind).title

    def __repr__(self) -> str:
        return f"<Organisation {self.id} {self.name}>"


class Person(EncryptedIdNumber, TimestampMixin, db.Model):
    __tablename__ = "persons"
    __table_args__ = (enum_check("gender", Gender),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # id_number: 居民身份证号, normalised: 18 characters, upper-case X (DESIGN §5.1), encrypted
    #: keyed hash of the number: one person per number (the unique index), every lookup
    id_number_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: not indexed: name search is a substring match (LIKE '%…%'), which no index serves
    name: Mapped[str] = mapped_column(String(60))
    #: derived from the identity number (17th digit)
    gender: Mapped[str] = mapped_column(String(8))
    #: derived from the identity number (digits 7-14)
    birth_date: Mapped[date] = mapped_column(Date)
    mobile: Mapped[str | None] = mapped_column(String(11), index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    employments: Mapped[list[Employment]] = relationship(back_populates="person",
                                                          order_by="Employment.start_date.desc()")

    @property
    def gender_title(self) -> str:
        return Gender(self.gender).title

    def __repr__(self) -> str:
        return f"<Person {self.id}>"


class PersonPhoto(db.Model):
    """Kept apart from persons so lists never load image bytes."""

    __tablename__ = "person_photos"

    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), primary_key=True)
    #: re-encoded JPEG, never the uploaded bytes
    data: Mapped[bytes] = mapped_column(LargeBinary)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class Employment(TimestampMixin, db.Model):
    __tablename__ = "employments"
    __table_args__ = (
        enum_check("post", Post),
        enum_check("state", EmploymentState),
        CheckConstraint("end_date IS NULL OR end_date >= start_date", name="end_after_start"),
        # the state and the end date say the same thing (the end date came first)
        CheckConstraint("(state = 'current' AND end_date IS NULL) OR "
                        "(state = 'ended' AND end_date IS NOT NULL)", name="state_matches_end"),
        # one current employment per person, institution and post
        Index("uq_employments_current", "person_id", "organisation_id", "post", unique=True,
              sqlite_where=text("end_date IS NULL"), postgresql_where=text("end_date IS NULL")),
        Index("ix_employments_org_current", "organisation_id", "end_date"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    post: Mapped[str] = mapped_column(String(20))
    #: 专职负责人 / direct manager: shares a lifetime ban for abuse under their management
    is_direct_manager: Mapped[bool] = mapped_column(Boolean, default=False)
    start_date: Mapped[date] = mapped_column(Date)
    #: current or ended; moved only by the employment state machine (registry.service)
    state: Mapped[str] = mapped_column(String(10), default=EmploymentState.CURRENT.value,
                                       server_default=EmploymentState.CURRENT.value)
    #: NULL while the employment is current
    end_date: Mapped[date | None] = mapped_column(Date)
    end_reason: Mapped[str] = mapped_column(String(200), default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: the roster import that created this row, if any (looked up with organisation_id,
    #: whose index serves it; a second index would slow every large import)
    import_batch: Mapped[str | None] = mapped_column(String(36))

    person: Mapped[Person] = relationship(back_populates="employments")
    organisation: Mapped[Organisation] = relationship()

    @property
    def post_title(self) -> str:
        return Post(self.post).title

    @property
    def is_current(self) -> bool:
        return self.end_date is None


class EmploymentManager(db.Model):
    """Who directly managed an employment, and from when to when (issue 15: a child-abuse ban
    lists the recorded direct manager of each of the person's employments on the incident day).

    A change closes the current row and opens the next, so the history is never rewritten. A
    row covers the days from starts_on up to, not including, ends_on."""

    __tablename__ = "employment_managers"
    __table_args__ = (
        CheckConstraint("ends_on IS NULL OR ends_on >= starts_on", name="ends_after_start"),
        Index("ix_employment_managers_employment", "employment_id", "starts_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: the managed employment
    employment_id: Mapped[int] = mapped_column(ForeignKey("employments.id"))
    #: the manager's employment at the same institution
    manager_employment_id: Mapped[int] = mapped_column(ForeignKey("employments.id"))
    starts_on: Mapped[date] = mapped_column(Date)
    #: NULL while current; the first day the manager no longer manages
    ends_on: Mapped[date | None] = mapped_column(Date)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)

    manager_employment: Mapped[Employment] = relationship(foreign_keys=[manager_employment_id])


#: the seeded types' names for readers of Traditional Chinese (msgids English; the zh_Hant
#: catalog carries 保育師, 育嬰員, ...). Simplified Chinese shows name_zh and English name_en,
#: both kept by an administrator on the certificate types page.
TYPE_TITLES = {
    "baoyushi": _l("Nursery teacher"),
    "yuyingyuan": _l("Infant carer"),
    "yingyouer_fazhan": _l("Infant development guide"),
    "baojian_training": _l("Health-care staff training certificate"),
    "director_training": _l("Childcare director training certificate"),
    "baoan": _l("Security guard certificate"),
    "medical_licence": _l("Medical or nursing licence"),
    "food_safety": _l("Food-safety manager training certificate"),
    "teacher_cert": _l("Teacher qualification certificate"),
    "health_cert": _l("Health certificate"),
}


class QualificationType(db.Model):
    """A certificate or training record that can qualify someone for a post."""

    __tablename__ = "qualification_types"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: stable code used by rules and imports, e.g. "baoyushi" for 保育师
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name_zh: Mapped[str] = mapped_column(String(80))
    name_en: Mapped[str] = mapped_column(String(120))
    #: whether the type has skill levels (五级 .. 一级)
    has_levels: Mapped[bool] = mapped_column(Boolean, default=False)
    #: the occupation's code in the national occupation classification (职业分类大典), if any
    occupation_code: Mapped[str] = mapped_column(String(20), default="", server_default="")
    #: months a certificate stays valid; NULL: it does not expire
    validity_months: Mapped[int | None] = mapped_column(Integer)
    #: first part of the numbers of certificates this system issues, e.g. BYS for 保育师
    number_prefix: Mapped[str] = mapped_column(String(6), default="", server_default="")
    #: the levels the occupation's national skill standard defines, e.g. "5,4,3" (empty: none)
    levels: Mapped[str] = mapped_column(String(12), default="", server_default="")
    #: skills-training class hours in the ledger (this year and last) a candidate needs to sit
    #: an exam for it, besides a course that prepares for it; NULL: none
    required_hours: Mapped[int | None] = mapped_column(Integer)

    @property
    def title(self) -> str:
        """The type's name in the reader's language (Simplified, Traditional or English)."""
        from flask_babel import get_locale

        locale = get_locale()
        if locale is None or (locale.language == "zh" and locale.script != "Hant"):
            return self.name_zh
        if locale.language == "en":
            return self.name_en or self.name_zh
        title = TYPE_TITLES.get(self.code)
        return str(title) if title is not None else self.name_zh

    @property
    def level_list(self) -> list[int]:
        return [int(x) for x in self.levels.split(",") if x.strip().isdigit()]


class PostRequirement(TimestampMixin, db.Model):
    """Holding a qualification of this type (at least this level) satisfies the post.

    Several rows for one post are alternatives; a post without rows needs no certificate.
    """

    __tablename__ = "post_requirements"
    __table_args__ = (
        enum_check("post", Post),
        CheckConstraint("min_level IS NULL OR (min_level BETWEEN 1 AND 5)", name="level_range"),
        Index("uq_post_requirements_rule", "post", "qualification_type_id", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    post: Mapped[str] = mapped_column(String(20), index=True)
    qualification_type_id: Mapped[int] = mapped_column(ForeignKey("qualification_types.id"))
    #: lowest acceptable level, 5 (五级/初级工) .. 1 (一级/高级技师); NULL = any level
    min_level: Mapped[int | None] = mapped_column(Integer)

    qualification_type: Mapped[QualificationType] = relationship(lazy="joined")


class Qualification(TimestampMixin, db.Model):
    """A certificate or training record a person holds (external, or issued by this system)."""

    __tablename__ = "qualifications"
    __table_args__ = (
        CheckConstraint("level IS NULL OR (level BETWEEN 1 AND 5)", name="level_range"),
        CheckConstraint("expires_on IS NULL OR expires_on >= issued_on", name="expiry_after_issue"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    qualification_type_id: Mapped[int] = mapped_column(ForeignKey("qualification_types.id"))
    #: 5 (五级/初级工) .. 1 (一级/高级技师); NULL for types without levels
    level: Mapped[int | None] = mapped_column(Integer)
    certificate_no: Mapped[str] = mapped_column(String(60), default="")
    issuer: Mapped[str] = mapped_column(String(120), default="")
    issued_on: Mapped[date] = mapped_column(Date)
    expires_on: Mapped[date | None] = mapped_column(Date)
    #: set when the record was revoked (for example by a ban)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)
    #: "external" for records entered by hand; "issued" for certificates this system issued
    source: Mapped[str] = mapped_column(String(20), default="external")
    #: a regulator compared the record with the paper (or its scan) and found it right
    checked_at: Mapped[datetime | None] = mapped_column(DateTime)
    checked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    qualification_type: Mapped[QualificationType] = relationship(lazy="joined")


class QualificationScan(db.Model):
    """The scan of an external certificate, kept apart so lists never load it."""

    __tablename__ = "qualification_scans"

    qualification_id: Mapped[int] = mapped_column(ForeignKey("qualifications.id"), primary_key=True)
    content_type: Mapped[str] = mapped_column(String(40))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Ban(EncryptedIdNumber, TimestampMixin, db.Model):
    """A ban from the sector, keyed by identity number: it may precede the registry record."""

    __tablename__ = "bans"
    __table_args__ = (
        enum_check("kind", BanKind),
        enum_check("category", BanCategory),
        enum_check("state", BanState),
        CheckConstraint("(kind = 'lifetime' AND ends_on IS NULL) OR "
                        "(kind = 'term' AND ends_on IS NOT NULL AND ends_on > starts_on)",
                        name="term_has_end"),
        CheckConstraint("kind = 'term' OR state <> 'expired'", name="lifetime_never_expires"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # id_number: normalised 居民身份证号 (the gate's key), encrypted (EncryptedIdNumber)
    #: keyed hash of the number: the gate looks bans up by it
    id_number_hash: Mapped[str] = mapped_column(String(64), index=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"), index=True)
    #: name as recorded in the decision (the person may not be in the registry)
    name: Mapped[str] = mapped_column(String(60))
    kind: Mapped[str] = mapped_column(String(10))
    #: 虐童, ethics violation, other
    category: Mapped[str] = mapped_column(String(16), default=BanCategory.OTHER.value,
                                          server_default=BanCategory.OTHER.value)
    #: moved only by the ban state machine (enforcement.service); the gate reads it
    state: Mapped[str] = mapped_column(String(10), default=BanState.IN_FORCE.value,
                                       server_default=BanState.IN_FORCE.value)
    starts_on: Mapped[date] = mapped_column(Date)
    #: last day of a term ban's exclusion is the day before this date; NULL for lifetime
    ends_on: Mapped[date | None] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(Text)
    #: the decision document's number (文号)
    decision_ref: Mapped[str] = mapped_column(String(100), default="")
    decision_date: Mapped[date | None] = mapped_column(Date)
    #: the deciding authority as written on the decision (e.g. 玄武区卫生健康委员会)
    authority: Mapped[str] = mapped_column(String(120), default="", server_default="")
    #: the day of the incident: the direct managers are those in post on that day
    incident_date: Mapped[date | None] = mapped_column(Date)
    #: the district of the regulator who imposed it (NULL: the city's); scopes who acts on it
    district_id: Mapped[int | None] = mapped_column(ForeignKey("districts.id"), index=True)
    #: a direct manager's ban points at the ban of the person who abused a child
    linked_to_id: Mapped[int | None] = mapped_column(ForeignKey("bans.id"), index=True)
    imposed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: set when the ban is lifted or annulled (kept for the roll-ups that count bans)
    lifted_at: Mapped[datetime | None] = mapped_column(DateTime)
    lifted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    lift_reason: Mapped[str] = mapped_column(Text, default="")

    @property
    def kind_title(self) -> str:
        return BanKind(self.kind).title

    @property
    def category_title(self) -> str:
        return BanCategory(self.category).title

    @property
    def state_title(self) -> str:
        return BanState(self.state).title

    def in_force(self, on: date) -> bool:
        if self.state not in (BanState.IN_FORCE, BanState.EXPIRED) or self.starts_on > on:
            return False
        return self.kind == BanKind.LIFETIME or (self.ends_on is not None and on < self.ends_on)


class BanEvidence(db.Model):
    """The evidence file of a ban decision, kept apart so lists never load it."""

    __tablename__ = "ban_evidence"

    ban_id: Mapped[int] = mapped_column(ForeignKey("bans.id"), primary_key=True)
    filename: Mapped[str] = mapped_column(String(200), default="")
    content_type: Mapped[str] = mapped_column(String(40))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class BanLiftRequest(db.Model):
    """A request to lift a ban early or annul it: a second, different regulator decides."""

    __tablename__ = "ban_lift_requests"
    __table_args__ = (
        CheckConstraint("kind IN ('lift', 'annul')", name="valid_kind"),
        enum_check("state", LiftRequestState),
        # four eyes, held by the database too
        CheckConstraint("decided_by_id IS NULL OR decided_by_id <> requested_by_id",
                        name="four_eyes"),
        Index("uq_ban_lift_requests_pending", "ban_id", unique=True,
              sqlite_where=text("state = 'pending'"), postgresql_where=text("state = 'pending'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ban_id: Mapped[int] = mapped_column(ForeignKey("bans.id"), index=True)
    #: BanAction.LIFT or BanAction.ANNUL
    kind: Mapped[str] = mapped_column(String(10))
    reason: Mapped[str] = mapped_column(Text)
    #: moved only by the request state machine (enforcement.service)
    state: Mapped[str] = mapped_column(String(10), default=LiftRequestState.PENDING.value)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    requested_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime)
    decision_reason: Mapped[str] = mapped_column(Text, default="")

    ban: Mapped[Ban] = relationship()

    @property
    def kind_title(self) -> str:
        return BanAction(self.kind).title

    @property
    def state_title(self) -> str:
        return LiftRequestState(self.state).title


class StaffRecordKind(TitledEnum):
    """Records the 2024 national quality standard asks an institution to hold for each staff
    member: a yearly health check (健康证明) and a certificate of no criminal record
    (无犯罪记录证明)."""

    HEALTH_CHECK = "health_check"
    NO_CRIMINAL_RECORD = "no_criminal_record"

    @classmethod
    def titles(cls):
        return {cls.HEALTH_CHECK: _l("Health check"),
                cls.NO_CRIMINAL_RECORD: _l("Certificate of no criminal record")}


class HealthResult(TitledEnum):
    FIT = "fit"
    UNFIT = "unfit"

    @classmethod
    def titles(cls):
        return {cls.FIT: _l("Fit for work with children"), cls.UNFIT: _l("Not fit")}


class StaffRecord(TimestampMixin, db.Model):
    """A health check or a certificate of no criminal record, recorded by an institution.

    Never edited: a newer record supersedes an older one; compliance reads the latest of
    each kind (ix_staff_records_latest serves that)."""

    __tablename__ = "staff_records"
    __table_args__ = (
        enum_check("kind", StaffRecordKind),
        CheckConstraint("result IS NULL OR result IN ('fit', 'unfit')", name="valid_result"),
        CheckConstraint("kind <> 'health_check' OR result IS NOT NULL", name="health_has_result"),
        Index("ix_staff_records_latest", "person_id", "kind", "issued_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    kind: Mapped[str] = mapped_column(String(20))
    #: the day of the examination, or of issue of the certificate
    issued_on: Mapped[date] = mapped_column(Date)
    #: health checks only: fit or unfit
    result: Mapped[str | None] = mapped_column(String(10))
    #: the hospital, or the public-security organ that issued the certificate
    issuer: Mapped[str] = mapped_column(String(120))
    document_no: Mapped[str] = mapped_column(String(60), default="", server_default="")
    #: the institution that recorded it
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    @property
    def kind_title(self) -> str:
        return StaffRecordKind(self.kind).title

    @property
    def result_title(self) -> str:
        return HealthResult(self.result).title if self.result else ""


class StaffRecordScan(db.Model):
    """The scan of a staff record, kept apart so lists never load it."""

    __tablename__ = "staff_record_scans"

    record_id: Mapped[int] = mapped_column(ForeignKey("staff_records.id"), primary_key=True)
    content_type: Mapped[str] = mapped_column(String(40))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class RosterAccount(db.Model):
    """A caregiver account a roster import created: only these get its one-time passwords."""

    __tablename__ = "roster_accounts"

    #: the import (employments.import_batch) that created the account
    batch: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)


# --- venues ---------------------------------------------------------------------------------------


class VenueUse(TitledEnum):
    """What holds a venue. Scheduling and exams are siblings (DESIGN §3): neither can ask the
    other what is booked when, so both reserve their rooms here and meet one clash check."""

    SESSION = "session"
    EXAM = "exam"

    @classmethod
    def titles(cls):
        return {cls.SESSION: _l("the session"), cls.EXAM: _l("the exam sitting")}


class Venue(db.Model):
    """A room or site of an organisation (a training base's classrooms and exam halls)."""

    __tablename__ = "venues"
    __table_args__ = (UniqueConstraint("organisation_id", "name", name="uq_venues_org_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    name: Mapped[str] = mapped_column(String(80))
    address: Mapped[str] = mapped_column(String(200), default="")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    #: bumped by every reservation: taking the row's write lock serialises the clash check
    reservations_version: Mapped[int] = mapped_column(Integer, default=0)

    organisation: Mapped[Organisation] = relationship(lazy="joined")

    def __str__(self) -> str:
        return self.name


class VenueReservation(db.Model):
    """A venue held for one session or exam sitting over [starts_at, ends_at) (UTC)."""

    __tablename__ = "venue_reservations"
    __table_args__ = (
        enum_check("use", VenueUse),
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        UniqueConstraint("use", "holder_id", name="uq_venue_reservations_holder"),
        Index("ix_venue_reservations_venue_time", "venue_id", "starts_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    venue_id: Mapped[int] = mapped_column(ForeignKey("venues.id"))
    use: Mapped[str] = mapped_column(String(10))
    #: the training session's or exam sitting's id (which one, `use` says)
    holder_id: Mapped[int] = mapped_column(Integer)
    #: what the clash message names: the course's or the certificate's title
    title: Mapped[str] = mapped_column(String(200))
    #: UTC, naive, like every stored time
    starts_at: Mapped[datetime] = mapped_column(DateTime)
    ends_at: Mapped[datetime] = mapped_column(DateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    venue: Mapped[Venue] = relationship(lazy="joined")
class AccountOrigin(db.Model):
    """The institution that created a caregiver account (by adding the person or importing a
    roster): it alone may hand that account one-time passwords while the account is unused."""

    __tablename__ = "account_origins"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
