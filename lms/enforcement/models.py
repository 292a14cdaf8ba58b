"""Tables of the enforcement package."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lms.core.models import utcnow
from lms.extensions import db
from lms.registry.models import Ban, Employment, Organisation, Person

# --- bans ----------------------------------------------------------------------------------------


class BanAlert(db.Model):
    """A banned person found still employed by a re-screen: shown on the regulator's and the
    institution's home pages until the employment ends (then resolved)."""

    __tablename__ = "ban_alerts"
    __table_args__ = (
        # one open alert per employment
        Index("uq_ban_alerts_open", "employment_id", unique=True,
              sqlite_where=text("resolved_at IS NULL"), postgresql_where=text("resolved_at IS NULL")),
        Index("ix_ban_alerts_org_open", "organisation_id", "resolved_at"),
        Index("ix_ban_alerts_district_open", "district_id", "resolved_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ban_id: Mapped[int] = mapped_column(ForeignKey("bans.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    employment_id: Mapped[int] = mapped_column(ForeignKey("employments.id"))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    #: the institution's district (whose regulators see the alert)
    district_id: Mapped[int] = mapped_column(ForeignKey("districts.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    #: set by a re-screen once the employment has ended (or the ban no longer holds)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime)

    ban: Mapped[Ban] = relationship(lazy="joined")
    person: Mapped[Person] = relationship(lazy="joined")
    employment: Mapped[Employment] = relationship()
    organisation: Mapped[Organisation] = relationship(lazy="joined")



# --- inspections, 人证合一 checks ------------------------------------------------------------------
# The 双随机一公开 inspections: the list of inspection items (抽查事项清单), the pool of
# inspectors per district with the organisations they work or worked for (conflicts of
# interest), the year's tasks and their draws, a visit per drawn institution with its result,
# and the 人证合一 checks made on a visit. Their imports sit here, below the bans' section.

INSPECTION_TABLES = ("inspection_items", "inspectors", "inspector_affiliations",
                     "inspection_tasks", "inspection_task_items", "inspection_draws",
                     "inspection_visits", "inspection_visit_inspectors", "identity_checks",
                     "identity_check_photos")
from datetime import date  # noqa: E402

from flask_babel import lazy_gettext as _l  # noqa: E402
from sqlalchemy import (  # noqa: E402
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import mapped_column, relationship  # noqa: E402

from lms.core.enums import TitledEnum, enum_check  # noqa: E402
from lms.core.models import District, TimestampMixin, utcnow  # noqa: E402
from lms.extensions import db  # noqa: E402


class InspectionItem(TimestampMixin, db.Model):
    """One line of the 抽查事项清单: what is checked, on what legal basis, in whom, how much of
    the pool is drawn, how often, how, and by whom."""

    __tablename__ = "inspection_items"
    __table_args__ = (
        CheckConstraint("(draw_percent IS NULL) <> (draw_count IS NULL)", name="share_or_count"),
        CheckConstraint("draw_percent IS NULL OR (draw_percent BETWEEN 1 AND 100)",
                        name="percent_range"),
        CheckConstraint("draw_count IS NULL OR draw_count >= 1", name="count_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: NULL: a city-wide item (the city regulator's); else the district's own list
    district_id: Mapped[int | None] = mapped_column(ForeignKey("districts.id"), index=True)
    #: 抽查事项, e.g. 从业人员持证上岗情况
    name: Mapped[str] = mapped_column(String(120))
    #: 检查依据: the rules the item checks against
    basis: Mapped[str] = mapped_column(Text, default="")
    #: 检查对象, e.g. 托育机构
    target: Mapped[str] = mapped_column(String(120), default="")
    #: 抽查比例 in percent of the pool, or …
    draw_percent: Mapped[int | None] = mapped_column(Integer)
    #: … a fixed number of institutions
    draw_count: Mapped[int | None] = mapped_column(Integer)
    #: 抽查频次, e.g. 每年一次
    frequency: Mapped[str] = mapped_column(String(60), default="")
    #: 检查方式, e.g. 现场检查、书面检查
    method: Mapped[str] = mapped_column(String(120), default="")
    #: 检查人员要求
    inspector_requirements: Mapped[str] = mapped_column(Text, default="")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    district: Mapped[District | None] = relationship(lazy="joined")


class Inspector(TimestampMixin, db.Model):
    """A member of a district's pool of inspectors (执法检查人员名录库): a user of the system or a
    named person (an expert from outside)."""

    __tablename__ = "inspectors"
    __table_args__ = (
        UniqueConstraint("district_id", "user_id", name="uq_inspectors_district_user"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    district_id: Mapped[int] = mapped_column(ForeignKey("districts.id"), index=True)
    #: the inspector's account, when they have one (a regulator)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: the inspector's registry record, when they have one: their employments count as
    #: conflicts of interest too
    person_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"))
    #: the name published on task notices (inspectors are public officials; nothing else is)
    name: Mapped[str] = mapped_column(String(60))
    #: may lead a team (组长)
    is_leader: Mapped[bool] = mapped_column(Boolean, default=False)
    #: an expert (专家) rather than an enforcement officer
    is_expert: Mapped[bool] = mapped_column(Boolean, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)

    district: Mapped[District] = relationship(lazy="joined")
    affiliations: Mapped[list[InspectorAffiliation]] = relationship(
        back_populates="inspector", order_by="InspectorAffiliation.id")


class InspectorAffiliation(TimestampMixin, db.Model):
    """An organisation the inspector works or worked for: they never inspect it."""

    __tablename__ = "inspector_affiliations"
    __table_args__ = (
        UniqueConstraint("inspector_id", "organisation_id", name="uq_inspector_affiliations_pair"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    inspector_id: Mapped[int] = mapped_column(ForeignKey("inspectors.id"), index=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    note: Mapped[str] = mapped_column(String(200), default="")

    inspector: Mapped[Inspector] = relationship(back_populates="affiliations")
    organisation: Mapped[Organisation] = relationship(lazy="joined")


class TaskState(TitledEnum):
    DRAFT = "draft"
    DRAWN = "drawn"
    PUBLISHED = "published"
    CLOSED = "closed"

    @classmethod
    def titles(cls):
        return {cls.DRAFT: _l("Draft"), cls.DRAWN: _l("Drawn"),
                cls.PUBLISHED: _l("Announced"), cls.CLOSED: _l("Closed, results published")}


class TaskAction(TitledEnum):
    DRAW = "draw"
    REDRAW = "redraw"
    PUBLISH = "publish"
    CLOSE = "close"

    @classmethod
    def titles(cls):
        return {cls.DRAW: _l("Draw"), cls.REDRAW: _l("Draw again"),
                cls.PUBLISH: _l("Announce the task"),
                cls.CLOSE: _l("Publish the results and close")}


inspection_task_items = Table(
    "inspection_task_items", db.Model.metadata,
    Column("task_id", ForeignKey("inspection_tasks.id"), primary_key=True),
    Column("item_id", ForeignKey("inspection_items.id"), primary_key=True),
)


class InspectionTask(TimestampMixin, db.Model):
    """One random inspection task of a year in a district: its items, how many institutions to
    draw and how many inspectors each, and (once drawn) the draw in force."""

    __tablename__ = "inspection_tasks"
    __table_args__ = (
        enum_check("state", TaskState),
        CheckConstraint("(draw_percent IS NULL) <> (draw_count IS NULL)", name="share_or_count"),
        CheckConstraint("draw_percent IS NULL OR (draw_percent BETWEEN 1 AND 100)",
                        name="percent_range"),
        CheckConstraint("draw_count IS NULL OR draw_count >= 1", name="count_positive"),
        CheckConstraint("inspectors_per_institution >= 2", name="two_inspectors"),
        Index("ix_inspection_tasks_year_district", "year", "district_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    year: Mapped[int] = mapped_column(Integer)
    district_id: Mapped[int] = mapped_column(ForeignKey("districts.id"))
    title: Mapped[str] = mapped_column(String(120))
    #: share of the pool in percent, or …
    draw_percent: Mapped[int | None] = mapped_column(Integer)
    #: … a number of institutions (one of the two)
    draw_count: Mapped[int | None] = mapped_column(Integer)
    #: at least two (执法人员不少于两人)
    inspectors_per_institution: Mapped[int] = mapped_column(Integer, default=2)
    #: moved only by the task state machine (enforcement.inspections.TASK)
    state: Mapped[str] = mapped_column(String(10), default=TaskState.DRAFT.value)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    published_at: Mapped[datetime | None] = mapped_column(DateTime)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime)

    district: Mapped[District] = relationship(lazy="joined")
    items: Mapped[list[InspectionItem]] = relationship(secondary=inspection_task_items,
                                                       order_by="InspectionItem.id")
    #: every draw, oldest first; the last is in force (a draw again leaves the earlier ones)
    draws: Mapped[list[InspectionDraw]] = relationship(order_by="InspectionDraw.id")
    visits: Mapped[list[InspectionVisit]] = relationship(back_populates="task",
                                                         order_by="InspectionVisit.position")

    @property
    def state_title(self) -> str:
        return TaskState(self.state).title

    @property
    def draw(self) -> InspectionDraw | None:
        """The draw in force: the last one."""
        return self.draws[-1] if self.draws else None


class InspectionDraw(db.Model):
    """One draw of a task, kept for ever (a draw again leaves the earlier one): everything
    needed to run it again — the seed, both pools in order, the conflicts excluded, the
    numbers — and what it picked. enforcement.inspections.run_draw is the algorithm."""

    __tablename__ = "inspection_draws"

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("inspection_tasks.id"), index=True)
    #: the seed given to random.Random (a string)
    seed: Mapped[str] = mapped_column(String(64))
    #: organisation ids of the institution pool, in the order the draw read them
    institution_pool: Mapped[list] = mapped_column(JSON)
    #: inspector ids of the inspector pool, in order
    inspector_pool: Mapped[list] = mapped_column(JSON)
    #: {organisation id (as text): [inspector ids excluded for a conflict of interest]}
    conflicts: Mapped[dict] = mapped_column(JSON)
    #: the share (percent) or count asked for, and the number of institutions it gave
    draw_percent: Mapped[int | None] = mapped_column(Integer)
    draw_count: Mapped[int | None] = mapped_column(Integer)
    drawn_count: Mapped[int] = mapped_column(Integer)
    inspectors_per_institution: Mapped[int] = mapped_column(Integer)
    #: what it picked: [[organisation id, [inspector ids]], ...] in drawing order
    picks: Mapped[list] = mapped_column(JSON)
    #: sha256 of the canonical JSON of all of the above: published with the task
    digest: Mapped[str] = mapped_column(String(64))
    drawn_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    drawn_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class VisitOutcome(TitledEnum):
    COMPLIANT = "compliant"
    RECTIFY = "rectify"

    @classmethod
    def titles(cls):
        return {cls.COMPLIANT: _l("No problems found"),
                cls.RECTIFY: _l("Problems found: rectification ordered")}


class InspectionVisit(db.Model):
    """A drawn institution of a task: its team and, once inspected, the result."""

    __tablename__ = "inspection_visits"
    __table_args__ = (
        UniqueConstraint("task_id", "organisation_id", name="uq_inspection_visits_task_org"),
        CheckConstraint("outcome IS NULL OR outcome IN ('compliant', 'rectify')",
                        name="valid_outcome"),
        CheckConstraint("outcome IS NULL OR outcome <> 'rectify' OR rectify_by IS NOT NULL",
                        name="rectify_has_deadline"),
        Index("ix_inspection_visits_org", "organisation_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("inspection_tasks.id"))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    #: the order the draw picked it in
    position: Mapped[int] = mapped_column(Integer)
    #: NULL until the result is recorded
    outcome: Mapped[str | None] = mapped_column(String(10))
    findings: Mapped[str] = mapped_column(Text, default="")
    #: the rectification deadline (整改期限)
    rectify_by: Mapped[date | None] = mapped_column(Date)
    inspected_on: Mapped[date | None] = mapped_column(Date)
    recorded_at: Mapped[datetime | None] = mapped_column(DateTime)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: the matter is closed (nothing found, or the rectification was checked)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime)

    task: Mapped[InspectionTask] = relationship(back_populates="visits")
    organisation: Mapped[Organisation] = relationship(lazy="joined")
    team: Mapped[list[VisitInspector]] = relationship(back_populates="visit",
                                                      order_by="VisitInspector.position")

    @property
    def outcome_title(self) -> str:
        return VisitOutcome(self.outcome).title if self.outcome else ""


class VisitInspector(db.Model):
    __tablename__ = "inspection_visit_inspectors"

    visit_id: Mapped[int] = mapped_column(ForeignKey("inspection_visits.id"), primary_key=True)
    inspector_id: Mapped[int] = mapped_column(ForeignKey("inspectors.id"), primary_key=True)
    #: the order the draw picked them in
    position: Mapped[int] = mapped_column(Integer)
    #: leads the team: the first drawn who may lead, else the first drawn
    is_leader: Mapped[bool] = mapped_column(Boolean, default=False)

    visit: Mapped[InspectionVisit] = relationship(back_populates="team")
    inspector: Mapped[Inspector] = relationship(lazy="joined")


class CheckResult(TitledEnum):
    MATCH = "match"
    MISMATCH = "mismatch"
    ABSENT = "absent"
    NOTE = "note"

    @classmethod
    def titles(cls):
        return {cls.MATCH: _l("Person matches the record"),
                cls.MISMATCH: _l("Person does not match the record"),
                cls.ABSENT: _l("Absent"), cls.NOTE: _l("Note only")}


class IdentityCheck(TimestampMixin, db.Model):
    """One 人证合一 check of a person on a visit. A mismatch is a follow-up until resolved."""

    __tablename__ = "identity_checks"
    __table_args__ = (
        enum_check("result", CheckResult),
        Index("ix_identity_checks_visit", "visit_id"),
        Index("ix_identity_checks_open", "result", "resolved_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("inspection_visits.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    result: Mapped[str] = mapped_column(String(10))
    note: Mapped[str] = mapped_column(Text, default="")
    checked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime)
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    resolution: Mapped[str] = mapped_column(Text, default="")

    visit: Mapped[InspectionVisit] = relationship(lazy="joined")
    person: Mapped[Person] = relationship(lazy="joined")

    @property
    def result_title(self) -> str:
        return CheckResult(self.result).title


class IdentityCheckPhoto(db.Model):
    """The photo taken on site, re-encoded; kept apart so lists never load it."""

    __tablename__ = "identity_check_photos"

    check_id: Mapped[int] = mapped_column(ForeignKey("identity_checks.id"), primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
