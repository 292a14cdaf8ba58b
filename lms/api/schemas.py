"""The API's contract: pydantic models that validate requests, validate and serialise responses,
and are the OpenAPI 3.1 document's schemas (spectree reads them; pydantic's JSON Schema is the
2020-12 dialect OpenAPI 3.1 uses)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictStr,
    field_validator,
)

from lms.core.idnumber import IdNumberError, parse_id_number


def _utc(value: datetime) -> datetime:
    """Stored times are naive UTC: say so on the wire (RFC 3339 with an offset)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


UtcTime = Annotated[datetime, AfterValidator(_utc)]
#: a district code (行政区划代码)
DistrictCode = Annotated[str, Field(examples=["320102"])]


class Model(BaseModel):
    #: unknown fields are an error in what we read and a bug in what we write
    model_config = ConfigDict(extra="forbid")


# --- requests -------------------------------------------------------------------------------------


class PersonStatusRequest(Model):
    """The identity number travels in the body, never in a URL (access logs keep URLs)."""

    id_number: StrictStr = Field(min_length=1, max_length=40,
                                 description="居民身份证号 (18 characters; a final x is read as X)",
                                 examples=["11010519491231002X"])

    @field_validator("id_number")
    @classmethod
    def _valid(cls, value: str) -> str:
        try:
            return parse_id_number(value)[0]
        except IdNumberError as err:
            raise ValueError(str(err)) from None


class FeedQuery(Model):
    changed_since: AwareDatetime | None = Field(
        None, description="RFC 3339 time with an offset: changes at or after it")
    cursor: str | None = Field(None, max_length=200, pattern=r"^[A-Za-z0-9_-]+$",
                               description="next_cursor of the previous page (opaque)")
    limit: int = Field(100, ge=1, le=500)


# --- answers --------------------------------------------------------------------------------------


class Institution(Model):
    id: int
    name: str
    district: DistrictCode


BanStateName = Annotated[Literal["in_force", "lifted", "annulled", "expired"],
                         Field(description="the ban's state (in_force, lifted early, annulled as "
                                           "recorded in error, expired at its term's end)")]


class Ban(Model):
    kind: Literal["lifetime", "term"]
    starts_on: date
    until: date | None = Field(description="the first day the person may work again; null for life")
    category: str | None = Field(description="the ban's category: child_abuse, ethics, other")
    state: BanStateName


class EmploymentStatus(Model):
    institution: Institution
    post: str
    post_title: str
    start_date: date
    certified_for_post: bool
    missing: str | None = Field(description="what would satisfy the post, when not certified")


class CertificateBrief(Model):
    number: str
    type: str
    type_title: str
    level: int | None = Field(ge=1, le=5)
    state: Literal["valid", "expired", "suspended", "revoked"]
    issued_on: date
    expires_on: date | None


class HoursCategory(Model):
    category: Literal["skills", "ethics"]
    title: str
    hours: Decimal
    required: Decimal
    met: bool = Field(description="this year's required hours done")
    expected: Decimal = Field(description="pro rata for today: required × day-of-year / "
                                          "days-in-year")
    on_track: bool = Field(description="at least the expected hours done")


class Hours(Model):
    year: int
    met: bool
    on_track: bool = Field(description="skills and ethics both on track (the compliance rule)")
    categories: list[HoursCategory]


class HealthCheck(Model):
    state: Literal["valid", "expired", "unfit", "missing"]
    checked_on: date | None
    valid_until: date | None = Field(description="the first day the check no longer counts")


class Gap(Model):
    code: str = Field(description="stable code (post_uncertified, skills_behind, ethics_behind, "
                                  "health_missing, health_lapsed, health_unfit, record_missing, "
                                  "banned, multi_institution, certificate_expiring)",
                      examples=["record_missing"])
    severity: Literal["gap", "warning"]
    message: str = Field(description="what closes it, in the language of Accept-Language")


class PersonStatus(Model):
    name: str = Field(description="masked")
    id_number: str = Field(description="masked")
    as_of: date
    compliant: bool = Field(description="no gaps (warnings aside), as the compliance pages judge")
    banned: bool
    ban: Ban | None
    employments: list[EmploymentStatus]
    certificates: list[CertificateBrief]
    hours: Hours
    health_check: HealthCheck
    criminal_record_on_file: bool = Field(description="a certificate of no criminal record")
    criminal_record_on: date | None = Field(description="the latest one's date")
    gaps: list[Gap]


class Rate(Model):
    count: int
    percent: float | None = Field(description="of the staff, one decimal; null when no staff")
    target_percent: float
    meets_target: bool


class Rates(Model):
    certified: Rate = Field(description="certified for every post held")
    hours_on_track: Rate
    health_current: Rate
    criminal_record_on_file: Rate


class Figures(Model):
    staff: int
    certified: int
    certified_percent: float | None = Field(description="null when no staff")
    target_percent: float
    meets_target: bool
    rates: Rates
    banned_employed: int = Field(description="must be zero: banned people still employed")
    multi_institution: int = Field(description="must be zero: full-time-only posts held while "
                                               "employed at another institution")


AsOf = Annotated[UtcTime | None, Field(description="when the compliance snapshot was computed; "
                                                   "null before the first")]


class InstitutionCompliance(Figures):
    institution: Institution
    as_of: AsOf
    banned_staff: int = Field(description="the same as banned_employed (kept for old clients)")


class DistrictRef(Model):
    code: DistrictCode
    name: str


class InstitutionFigures(Figures):
    id: int
    name: str
    district: DistrictCode
    as_of: AsOf


class DistrictCompliance(Figures):
    district: DistrictRef
    as_of: AsOf
    institutions_meeting_target: int
    institutions: list[InstitutionFigures]


class Holder(Model):
    name: str = Field(description="masked")
    id_number: str = Field(description="masked")


class CertificateVerification(CertificateBrief):
    holder: Holder
    issuer: str
    verification_url: str


class BanChange(Model):
    id: int
    id_number: str
    name: str
    kind: Literal["lifetime", "term"]
    category: str | None
    state: BanStateName
    starts_on: date
    until: date | None
    in_force: bool
    lifted: bool
    decision_ref: str
    changed_at: UtcTime


class BanFeed(Model):
    items: list[BanChange]
    next_cursor: str | None
    has_more: bool


class CertificateStatusChange(Model):
    id: int
    certificate_number: str
    type: str
    level: int | None
    holder_id_number: str = Field(description="masked")
    action: str
    from_state: str
    to_state: str
    changed_at: UtcTime


class CertificateStatusFeed(Model):
    items: list[CertificateStatusChange]
    next_cursor: str | None
    has_more: bool


class ProblemField(Model):
    field: str
    message: str


class Problem(Model):
    """RFC 9457 problem details (application/problem+json)."""

    type: str = Field(description="a stable URI naming the kind of problem")
    title: str = Field(description="in the language of Accept-Language")
    status: int
    detail: str
    errors: list[ProblemField] | None = None
