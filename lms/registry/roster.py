"""Staff roster import from Excel: validate every row first, then store all or nothing.

Part of the registry's service layer; the per-field rules are the same functions the
single-person form uses (lms.core.idnumber, registry.service).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from itertools import islice
from operator import itemgetter

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, func, select, text
from sqlalchemy.orm import Session

from lms.auth import service as auth_service
from lms.auth.models import Role, User
from lms.core import audit, jobs
from lms.core.bulk import (
    array_insert,
    bulk_insert,
    chunks,
    collector_paused,
    copy_ready,
    copy_rows,
    max_id,
    one_of,
    people_changed,
)
from lms.core.clock import local_today
from lms.core.crypto import keyring, lookups_remembered, remembered_lookups
from lms.core.errors import DomainError
from lms.core.excel import Limits, read_rows, write_xlsx
from lms.core.idnumber import (
    INVISIBLE,
    clean,
    mask_id_number,
)
from lms.core.models import utcnow
from lms.core.permissions import authorize
from lms.extensions import db
from lms.registry.models import (
    AccountOrigin,
    Employment,
    Organisation,
    OrgKind,
    Person,
    Post,
    RosterAccount,
    StaffRecord,
    StaffRecordKind,
    id_number_columns,
)
from lms.registry.permissions import can_manage_staff
from lms.registry.service import (
    NAME_DIFFERS,
    POST_HELD,
    BannedError,
    StaffRecordRow,
    ban_gate,
    check_staff_record,
    check_staff_row,
)

#: column key -> the header texts accepted (the template uses the first)
COLUMNS = {
    "name": ("姓名", "name"),
    "id_number": ("身份证号", "居民身份证号", "身份证号码", "id number", "identity number"),
    "mobile": ("手机号", "手机号码", "mobile"),
    "post": ("岗位", "post"),
    "start_date": ("入职日期", "start date"),
    # not the post 专职负责人 (that is a Post): whether the person directly manages others;
    # the older headers stay readable
    "direct_manager": ("是否直接管理人员", "直接管理人员", "是否专职负责人", "专职负责人",
                       "direct manager"),
    # optional: the yearly health check (健康证明) and the certificate of no criminal record
    # (无犯罪记录证明), recorded with the employment when filled in
    "health_date": ("体检日期", "health check date"),
    "health_result": ("体检结论", "health check result"),
    "health_issuer": ("体检机构", "health check issuer"),
    "record_date": ("无犯罪记录证明日期", "no criminal record date"),
    "record_issuer": ("出具机关", "no criminal record issuer"),
}
REQUIRED = ("name", "id_number", "post", "start_date")
COLUMN_TITLES = {
    "name": _l("Name"), "id_number": _l("Identity number"), "mobile": _l("Mobile"),
    "post": _l("Post"), "start_date": _l("Start date"), "direct_manager": _l("Directly manages other staff"),
    "health_date": _l("Health check date"), "health_result": _l("Health check result"),
    "health_issuer": _l("Health check issued by"),
    "record_date": _l("Certificate of no criminal record: date"),
    "record_issuer": _l("Certificate of no criminal record: issued by"),
}
#: the staff-record groups: kind -> {the service's field: the roster's column}
RECORD_COLUMNS = {
    StaffRecordKind.HEALTH_CHECK: {"issued_on": "health_date", "result": "health_result",
                                   "issuer": "health_issuer"},
    StaffRecordKind.NO_CRIMINAL_RECORD: {"issued_on": "record_date", "issuer": "record_issuer"},
}
YES = {"是", "y", "yes", "1", "true", "√", "✓"}
NO = {"否", "n", "no", "0", "false", ""}
_DATE = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?$")
_EXCEL_EPOCH = date(1899, 12, 30)


@dataclass
class RowError:
    row: int
    column: str  # key in COLUMNS, or "" for the whole row
    message: str

    @property
    def column_title(self) -> str:
        return str(COLUMN_TITLES.get(self.column, "")) if self.column else ""


@dataclass
class RosterResult:
    errors: list[RowError] = field(default_factory=list)
    batch_id: str | None = None
    rows: int = 0
    persons_created: int = 0
    persons_linked: int = 0
    employments: int = 0
    accounts_created: int = 0
    #: health checks and certificates of no criminal record recorded with the employments
    staff_records: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors and self.batch_id is not None


class RosterFileError(DomainError):
    pass


Progress = Callable[[str, int, int], None]


def _no_progress(stage: str, done: int, total: int) -> None:
    return None


def _header_map(values: list) -> dict[str, int]:
    index = {}
    for position, value in enumerate(values):
        text = clean(value).lower() if isinstance(value, str) else ""
        for key, names in COLUMNS.items():
            if text in {clean(n).lower() for n in names} and key not in index:
                index[key] = position
    return index


def _parse_date(value) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if 20000 < value < 80000 and float(value).is_integer():  # an Excel date serial
            return _EXCEL_EPOCH + timedelta(days=int(value))
        raise ValueError
    match = _DATE.match(value) if isinstance(value, str) else None
    match = match or _DATE.match(clean(value))
    if not match:
        raise ValueError
    return date(int(match[1]), int(match[2]), int(match[3]))


def _blank_row(values: list) -> bool:
    """A row of empty cells, or cells holding only spaces, is not a staff row."""
    for value in values:  # a loop, not all(<generator>): a staff row ends at its first cell
        if not _blank(value):
            return False
    return True


def _blank(value) -> bool:
    return value is None or (isinstance(value, str) and (not value or bool(INVISIBLE.fullmatch(value))))


def _text(value) -> str:
    return "" if value is None else str(value)


def _row_records(row: int, values: list, columns: dict[str, int], today: date,
                 errors: list[RowError]) -> list[StaffRecordRow] | None:
    """The row's health check and certificate of no criminal record (each group optional,
    checked by the same rules as the form's), or None when a filled group is wrong."""
    found, ok = [], True
    for kind, fields in RECORD_COLUMNS.items():
        cells = {name: values[columns[column]] for name, column in fields.items()}
        if all(_blank(v) for v in cells.values()):
            continue
        try:
            issued = _parse_date(cells["issued_on"])
        except (ValueError, TypeError):
            errors.append(RowError(row, fields["issued_on"], _("Enter the date as YYYY-MM-DD.")))
            issued, ok = None, False
        record, problems = check_staff_record(
            kind=kind, issued_on=issued, result=_text(cells.get("result")),
            issuer=_text(cells["issuer"]), today=today)
        for problem in problems:
            errors.append(RowError(row, fields.get(problem.field or "", ""), str(problem)))
        if record is None:
            ok = False
        else:
            found.append(record)
    return found if ok else None


def template_xlsx() -> bytes:
    """The downloadable roster template: text-formatted identity and mobile columns."""
    headers = [COLUMNS[k][0] for k in COLUMNS]
    example = ["张晓雯", "320102199003070025", "13912345678", "保育员", "2025-09-01", "否",
               "2025-08-20", "合格", "南京市玄武区妇幼保健院", "2025-08-12", "南京市公安局玄武分局"]
    notes = [
        _("One row per staff member and post. Do not change the header row."),
        _("Identity number: 18 characters, typed as text (the column is formatted as text)."),
        _("Post: one of %(posts)s.", posts="、".join(p.chinese for p in Post)),
        _("Start date: YYYY-MM-DD. Directly manages other staff (是否直接管理人员): 是 or 否; "
          "the post 专职负责人 is written in the Post column."),
        _("Optional: the latest health check (体检日期 YYYY-MM-DD, 体检结论 合格 or 不合格, "
          "体检机构) and the certificate of no criminal record (无犯罪记录证明日期, 出具机关). "
          "Fill in all of a group, or leave the group empty."),
        _("Delete the example row before importing."),
    ]
    return write_xlsx(headers, [example], text_columns={1, 2}, sheet_name="花名册",
                      column_widths={0: 14, 1: 24, 2: 16, 3: 16, 4: 14, 5: 16, 6: 14, 7: 12,
                                     8: 24, 9: 20, 10: 24}, notes=notes)


def import_roster(actor, org: Organisation, data: bytes, *, today: date | None = None,
                  progress: Progress = _no_progress, max_rows: int = 200_000) -> RosterResult:
    """Check, validate and store a roster: every row valid, or nothing stored."""
    # the registry's lookups, the ban gate and the insert each need every number's lookup hash
    with collector_paused(), lookups_remembered():
        return _import_roster(actor, org, data, today=today, progress=progress,
                              max_rows=max_rows)


def _import_roster(actor, org: Organisation, data: bytes, *, today: date | None,
                   progress: Progress, max_rows: int) -> RosterResult:
    authorize(actor, can_manage_staff, org=org)
    if org.kind != OrgKind.INSTITUTION:
        raise RosterFileError(_l("Staff are registered at childcare institutions only."))
    today = today or local_today()
    progress("read", 0, 1)
    rows = read_rows(data, Limits(max_rows=max_rows + 50))
    progress("read", 1, 1)
    while rows and _blank_row(rows[0][1]):
        rows.pop(0)
    if not rows:
        raise RosterFileError(_l("The sheet is empty: it has no header row."))
    header_row, header = rows[0]
    index = _header_map(header)
    missing = [str(COLUMN_TITLES[k]) for k in REQUIRED if k not in index]
    if missing:
        raise RosterFileError(_l("Row %(row)d must be the header row; these columns are missing: "
                                 "%(columns)s. Download the template to see the layout.",
                                 row=header_row, columns=", ".join(missing)))
    result = RosterResult()
    births: dict[str, date] = {}
    errors = result.errors
    seen_ids: dict[tuple[str, str], int] = {}
    names_by_id: dict[str, tuple[str, int]] = {}
    mobiles: dict[str, tuple[str, int]] = {}
    mobile_of: dict[str, tuple[str, int]] = {}  # identity number -> (mobile, first row)
    #: identity number -> {kind: (the record, the first row giving it)}
    records_of: dict[str, dict[StaffRecordKind, tuple[StaffRecordRow, int]]] = {}
    body = [(n, v) for n, v in rows[1:] if not _blank_row(v)]
    if not body:
        raise RosterFileError(_l("The sheet has a header row but no staff rows."))
    if len(body) > max_rows:
        raise RosterFileError(_l("The roster has %(n)d rows; import at most %(limit)d at a time.",
                                 n=len(body), limit=max_rows))
    total = len(body)
    result.rows = total
    width = max(index.values()) + 1
    columns = {key: index.get(key, width) for key in COLUMNS}  # width = an always-empty cell
    #: the cells of the optional staff-record groups, which most rows leave empty
    record_cells = [columns[column] for fields in RECORD_COLUMNS.values()
                    for column in fields.values()]
    registry = _Registry()
    valid: list[tuple] = []
    pipeline = None
    #: a pipeline's chunk whose registry facts are being looked up: (its rows, the index after
    #: its last row, the lookup)
    waiting: tuple | None = None

    def settle(parsed: list[tuple], end: int, looked_up: Future | None = None) -> None:
        """A chunk's rows (up to the `end`th) against the registry's facts; written (in a
        pipeline) while no row so far has an error."""
        if looked_up is not None:
            registry.update(looked_up.result())
        checked = registry.refusals(parsed, errors)
        progress("check", end, total)
        if pipeline is not None and not errors:
            pipeline.write(checked, registry, births)
        valid.extend(checked)

    try:
        if _may_pipeline():
            pipeline = _Pipeline(actor, org)
        for first, end in _chunk_bounds(total):
            known_numbers, known_mobiles = len(names_by_id), len(mobiles)
            parsed = []
            for done, (row, values) in enumerate(body[first:end], first + 1):
                if done % 5000 == 0:
                    progress("validate", done, total)
                # position `width` is the empty cell a missing optional column reads (a cell
                # past the last known column, under no header, is never read)
                values = [*values[:width], *([""] * (width - len(values))), ""]
                row_ok = True
                try:
                    start = _parse_date(values[columns["start_date"]])
                except ValueError:
                    errors.append(RowError(row, "start_date",
                                           _("Enter the start date as YYYY-MM-DD.")))
                    row_ok, start = False, None
                flag = values[columns["direct_manager"]]
                if isinstance(flag, (int, float)):
                    flag_text = str(int(flag))
                else:
                    flag_text = flag if flag in YES or flag in NO else clean(flag).lower()
                if flag_text in YES:
                    manager = True
                elif flag_text in NO:
                    manager = False
                else:
                    errors.append(RowError(row, "direct_manager", _("Write 是 or 否.")))
                    row_ok, manager = False, False
                # the same rules, and the same words, as adding one staff member on the form
                staff, problems = check_staff_row(
                    name=values[columns["name"]], id_number=values[columns["id_number"]],
                    mobile=values[columns["mobile"]], post=values[columns["post"]],
                    start_date=start, is_direct_manager=manager, today=today)
                for problem in problems:
                    errors.append(RowError(row, problem.field or "", str(problem)))
                cells = [values[i] for i in record_cells]
                # empty cells are '' (calamine) or None; anything else is looked at closely
                records = ([] if cells.count("") + cells.count(None) == len(cells)
                           or _blank_row(cells)
                           else _row_records(row, values, columns, today, errors))
                if staff is None or not row_ok or records is None:
                    continue
                name, number, mobile, post = staff.name, staff.id_number, staff.mobile, staff.post
                births[number] = staff.birth_date
                key = (number, post.value)
                if key in seen_ids:
                    errors.append(RowError(row, "id_number", _("The same person and post already "
                                                               "appear in row %(row)d.",
                                                               row=seen_ids[key])))
                    continue
                seen_ids[key] = row
                given_name = names_by_id.setdefault(number, (name, row))
                if given_name[0] != name:
                    errors.append(RowError(row, "name", _("Row %(row)d gives another name for "
                                                          "this identity number.",
                                                          row=given_name[1])))
                    continue
                if mobile:
                    given = mobile_of.setdefault(number, (mobile, row))
                    if given[0] != mobile:
                        errors.append(RowError(row, "mobile", _("Row %(row)d gives this person "
                                                                "another mobile number.",
                                                                row=given[1])))
                        continue
                    owner = mobiles.setdefault(mobile, (number, row))
                    if owner[0] != number:
                        errors.append(RowError(row, "mobile", _("Row %(row)d gives this mobile "
                                                                "number to another person.",
                                                                row=owner[1])))
                        continue
                differs = False
                for record in records:
                    given = records_of.setdefault(number, {}).setdefault(record.kind,
                                                                         (record, row))
                    if given[0] != record:
                        errors.append(RowError(row, RECORD_COLUMNS[record.kind]["issued_on"],
                                               _("Row %(row)d gives this person a different "
                                                 "record of this kind.", row=given[1])))
                        differs = True
                if differs:
                    continue
                parsed.append((row, name, number, mobile, post, start, staff.is_direct_manager))

            # against the registry: the people, mobiles, bans and employments this chunk
            # brings up first; in a pipeline, looked up on its second connection while this
            # thread checks the next chunk
            numbers = list(islice(names_by_id, known_numbers, None))
            new_mobiles = list(islice(mobiles, known_mobiles, None))
            if pipeline is None:
                registry.update(_learn(db.session, org.id, numbers, new_mobiles, today))
                settle(parsed, end)
            else:
                # no ids drawn for an import that will store nothing
                looked_up = pipeline.look_up(numbers, new_mobiles, today, reserve=not errors)
                if waiting is not None:
                    settle(*waiting)
                waiting = (parsed, end, looked_up)
        if waiting is not None:
            settle(*waiting)

        if errors:
            # nothing stored: what a pipeline wrote before the first error is undone
            if pipeline is not None:
                pipeline.abandon()
            errors.sort(key=lambda e: (e.row, list(COLUMNS).index(e.column)
                                       if e.column in COLUMNS else 0))
            return result
        # someone another institution employs keeps the mobile (sign-in name) they have
        keep_mobile = {number for number, (pid, _n, pmobile) in registry.existing.items()
                       if pmobile and pid in registry.elsewhere}
        records = {number: {kind: given[0] for kind, given in by_kind.items()}
                   for number, by_kind in records_of.items()}
        if pipeline is None:
            return _store(actor, org, valid, registry.existing, births, result, progress,
                          keep_mobile, records)
        progress("store", 0, len(valid))
        pipeline.finish()
        ids = {number: value[0] for number, value in registry.existing.items()}
        ids.update(pipeline.ids)
        _stored(actor, org, valid, registry.existing, ids, pipeline.batch, pipeline.now,
                result, progress, keep_mobile, records)
        pipeline.release()
        return result
    except BaseException:
        if pipeline is not None:
            pipeline.abandon()
        raise


#: rows read, checked and stored together: the registry's checks of a chunk are a query each,
#: and on PostgreSQL a chunk is written while the next is checked (_Pipeline); of 2,500, 5,000
#: and 10,000 rows, 10,000 made the quickest 100,000-row import (tests/bench/README.md)
CHUNK_ROWS = 10_000


def _chunk_bounds(total: int) -> list[tuple[int, int]]:
    """(start, end) of each chunk: CHUNK_ROWS rows, but a quarter of that first (the writing
    starts sooner) and for the last CHUNK_ROWS (less is left to write after the last row is
    checked)."""
    quarter = max(1, CHUNK_ROWS // 4)
    bounds, first = [], 0
    while first < total:
        size = CHUNK_ROWS if first and total - first > CHUNK_ROWS else quarter
        bounds.append((first, min(first + size, total)))
        first += size
    return bounds


@dataclass
class _Registry:
    """What the registry holds of a roster's people, learnt chunk by chunk: the persons
    already registered (id, name, mobile), the owners of the mobiles, the bans in force, and
    the people's current employments here (person, post) and elsewhere (person)."""

    existing: dict[str, tuple[int, str, str | None]] = field(default_factory=dict)
    mobile_owner: dict[str, str] = field(default_factory=dict)
    banned: dict[str, object] = field(default_factory=dict)
    current: set[tuple[int, str]] = field(default_factory=set)
    elsewhere: set[int] = field(default_factory=set)

    #: identity numbers not registered yet -> the person id drawn for each (in a pipeline)
    reserved: dict[str, int] = field(default_factory=dict)

    def update(self, other: _Registry) -> None:
        self.existing.update(other.existing)
        self.mobile_owner.update(other.mobile_owner)
        self.banned.update(other.banned)
        self.current |= other.current
        self.elsewhere |= other.elsewhere
        self.reserved.update(other.reserved)

    def refusals(self, parsed: list[tuple], errors: list[RowError]) -> list[tuple]:
        """The rows the registry does not refuse; an error for each one it does."""
        valid = []
        for item in parsed:
            row, name, number, mobile, post, _start, _manager = item
            if number in self.banned:
                errors.append(RowError(row, "id_number", str(BannedError(self.banned[number]))))
                continue
            known = self.existing.get(number)
            if known and known[1] != name:
                errors.append(RowError(row, "name", str(NAME_DIFFERS)))
                continue
            if mobile and self.mobile_owner.get(mobile, number) != number:
                errors.append(RowError(row, "mobile", _("This mobile number belongs to another "
                                                        "person in the registry.")))
                continue
            if known and (known[0], post.value) in self.current:
                errors.append(RowError(row, "post", str(POST_HELD)))
                continue
            valid.append(item)
        return valid


def _learn(session, org_id: int, numbers: list[str], mobiles: list[str], today: date, *,
           sequence=None) -> _Registry:
    """What the registry holds of these identity numbers and mobiles (ones the roster had not
    brought up before); with `sequence` (a pipeline's), a person id drawn for each number not
    registered yet."""
    learnt = _Registry()
    found = []
    for chunk in chunks(numbers):
        for pid, number, pname, pmobile in session.execute(
                select(Person.id, Person.id_number, Person.name, Person.mobile)
                .where(one_of(Person.id_number, chunk))):
            learnt.existing[number] = (pid, pname, pmobile)
            found.append(pid)
    for chunk in chunks(mobiles):
        for number, pmobile in session.execute(
                select(Person.id_number, Person.mobile).where(one_of(Person.mobile, chunk))):
            learnt.mobile_owner[pmobile] = number
    learnt.banned.update(ban_gate(numbers, today, session=session))
    for chunk in chunks(found):
        for pid, org, post in session.execute(
                select(Employment.person_id, Employment.organisation_id, Employment.post)
                .where(Employment.end_date.is_(None), one_of(Employment.person_id, chunk))):
            if org == org_id:
                learnt.current.add((pid, post))
            else:
                learnt.elsewhere.add(pid)
    new = [number for number in numbers if number not in learnt.existing]
    if sequence is not None and new:
        # in key order (the lookup hash), as the rows will be written; a number whose rows are
        # all refused leaves its id unused: a gap, as a rollback leaves
        new.sort(key=keyring().lookup)
        learnt.reserved.update(zip(new, session.scalars(sequence, {"n": len(new)}),
                                   strict=True))
    return learnt


def _may_pipeline() -> bool:
    """Whether the import may check on a second connection while it writes on the session's:
    on PostgreSQL, when this transaction has written nothing yet, so that the second
    connection sees what the session sees (a job's transaction, after its start is
    committed). Otherwise everything is checked, then stored, on the session."""
    if db.engine.dialect.name != "postgresql":
        return False
    # flushes what the session holds first: anything written gives the transaction an id
    return bool(db.session.execute(text("SELECT pg_current_xact_id_if_assigned() IS NULL"))
                .scalar())


class _Pipeline:
    """A roster import on PostgreSQL written while it is checked.

    Three threads take turns on the chunks: this one checks a chunk's rows; a reader thread
    looks up what the registry holds of them (persons, mobiles, bans, employments) on a second,
    read-only connection, while this thread checks the next chunk; then a writer thread writes
    the chunk's checked rows (the new persons, then the employments, and the compliance marks
    beside them) on the session's connection, inside a savepoint of its transaction. The new
    persons' ids are drawn from their sequence when they are looked up, so that a later chunk
    can employ someone an earlier one registered. The database's work on one chunk (indexes,
    foreign-key checks, lookups) then overlaps Python's on the next, instead of following all
    of it; the import ends when the writer has written the last chunk, which its serial work
    on one connection decides (tests/bench/README.md). A row error stops the writing (the rest
    is still checked, so that every error is listed) and the savepoint is rolled back: nothing
    is stored, as before."""

    def __init__(self, actor, org: Organisation):
        self.actor_id = getattr(actor, "id", None)
        self.org_id = org.id
        self.batch = str(uuid.uuid4())
        self.now = utcnow()
        #: identity number -> person id, for the persons this import registers
        self.ids: dict[str, int] = {}
        self._app = current_app._get_current_object()
        self._memo = remembered_lookups()
        self._reading = db.engine.connect()
        try:
            self._reader = Session(bind=self._reading)
            self._savepoint = db.session.begin_nested()
            self._connection = db.session.connection()
        except BaseException:
            self._reading.close()
            raise
        self._looking = ThreadPoolExecutor(max_workers=1, thread_name_prefix="roster-reader")
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="roster-writer")
        self._written: list[Future] = []
        self._ring = keyring()
        #: n values of the persons' id sequence
        self._sequence = select(func.nextval(func.pg_get_serial_sequence(
            Person.__tablename__, "id"))).select_from(func.generate_series(1, bindparam("n")))

    def look_up(self, numbers: list[str], mobiles: list[str], today: date, *,
                reserve: bool = True) -> Future:
        """What the registry holds of these numbers and mobiles, looked up by the reader (with
        `reserve`, an id drawn for each person to register)."""
        return self._looking.submit(self._look_up, numbers, mobiles, today, reserve)

    def _look_up(self, numbers: list[str], mobiles: list[str], today: date,
                 reserve: bool) -> _Registry:
        with self._app.app_context(), lookups_remembered(self._memo):
            return _learn(self._reader, self.org_id, numbers, mobiles, today,
                          sequence=self._sequence if reserve else None)

    def write(self, items: list[tuple], registry: _Registry, births: dict[str, date]) -> None:
        """Queue a chunk of checked rows for the writer (an earlier chunk's failure is raised)."""
        for future in self._written:
            if future.done() and future.exception() is not None:
                raise future.exception()
        ids, existing, reserved = self.ids, registry.existing, registry.reserved
        ring, now = self._ring, self.now
        people = []
        for _r, name, number, mobile, *_x in items:
            if number not in existing and number not in ids:  # its first row registers them
                pid = ids[number] = reserved[number]
                people.append((pid, *id_number_columns(number, ring), name, mobile,
                               "male" if int(number[16]) % 2 else "female", births[number]))
        people.sort(key=itemgetter(2))  # in key order, as _store does
        employments = [(ids[number] if number in ids else existing[number][0], post.value,
                        manager, start)
                       for _row, _name, number, _mobile, post, start, manager in items]
        employments.sort(key=itemgetter(0))
        # made ready here (encrypted, joined): the writer, whom the database keeps waiting, is
        # the slower of the two
        writes = [self._ready(Person.__table__, _NEW_PERSON_KEYS, people,
                              {"created_at": now, "updated_at": now}),
                  self._ready(Employment.__table__, _NEW_EMPLOYMENT_KEYS, employments, {
                      "organisation_id": self.org_id, "state": "current", "end_date": None,
                      "end_reason": "", "created_by_id": self.actor_id,
                      "import_batch": self.batch, "created_at": now})]
        self._written.append(self._writer.submit(self._write, writes,
                                                 [e[0] for e in employments]))

    def _ready(self, table, keys: list[str], rows: list[tuple], constants: dict):
        """The statement that inserts the rows, or what COPY takes instead (bulk.array_insert)."""
        rows = copy_ready(table, keys, rows, self._connection.dialect)
        statement = array_insert(table, keys, rows, constants) if rows else None
        if statement is not None or not rows:
            return statement
        return table, [*keys, *constants], [(*row, *constants.values()) for row in rows]

    def _write(self, writes: list, person_ids: list[int]) -> None:
        with self._app.app_context():
            for write in writes:
                if isinstance(write, tuple):
                    copy_rows(self._connection, *write)
                elif write is not None:
                    self._connection.execute(write)
            people_changed.send(Employment.__table__, connection=self._connection,
                                person_ids=person_ids)

    def finish(self) -> None:
        """Wait for the writer (raising its error), and close the second connection."""
        self._looking.shutdown(wait=True)
        self._writer.shutdown(wait=True)
        for future in self._written:
            future.result()
        self._close_reader()

    def release(self) -> None:
        """Keep what was written (the savepoint released into the transaction)."""
        self._savepoint.commit()

    def abandon(self) -> None:
        """Stop looking up and writing, and undo what was written; the session's transaction
        goes on."""
        self._looking.shutdown(wait=True, cancel_futures=True)
        self._writer.shutdown(wait=True, cancel_futures=True)
        self._close_reader()
        if self._savepoint.is_active:
            self._savepoint.rollback()

    def _close_reader(self) -> None:
        self._reader.close()
        self._reading.close()


#: the columns `_store` writes, in the order of its rows
PERSON_COLUMNS = ["id_number_enc", "id_number_hash", "id_number_tail", "name", "mobile", "gender",
                  "birth_date", "created_at", "updated_at"]
#: the columns of a pipeline's rows, which vary from row to row (the ids of new persons are
#: drawn beforehand); the others are the same for the whole import
_NEW_PERSON_KEYS = ["id", "id_number_enc", "id_number_hash", "id_number_tail", "name", "mobile",
                    "gender", "birth_date"]
_NEW_EMPLOYMENT_KEYS = ["person_id", "post", "is_direct_manager", "start_date"]
EMPLOYMENT_COLUMNS = ["person_id", "organisation_id", "post", "state", "is_direct_manager",
                      "start_date", "end_date", "end_reason", "created_by_id", "import_batch",
                      "created_at"]


def _store(actor, org, valid, existing, births, result: RosterResult,
           progress: Progress, keep_mobile: set[str],
           records: dict[str, dict[StaffRecordKind, StaffRecordRow]]) -> RosterResult:
    batch = str(uuid.uuid4())
    now = utcnow()
    new_people = []
    seen_new = set()
    ring = keyring()
    for _row, name, number, mobile, _post, _start, _manager in valid:
        if number not in existing and number not in seen_new:
            seen_new.add(number)
            new_people.append((
                *id_number_columns(number, ring), name, mobile,
                "male" if int(number[16]) % 2 else "female", births[number], now, now))
    ids = dict((number, value[0]) for number, value in existing.items())
    progress("store", 0, len(valid))
    if new_people:
        # one executemany; the new ids are read back by identity number (the ids above the
        # previous highest — rows another transaction adds meanwhile are filtered out)
        floor = max_id(Person.__table__)
        # in key order (the lookup hash: the number is encrypted), so the unique index grows
        # at its end instead of splitting pages
        new_people.sort(key=lambda p: p[1])
        bulk_insert(Person.__table__, new_people, PERSON_COLUMNS)
        wanted = {p[1]: p[0] for p in new_people}
        # the plain columns only (no ORM entities, nothing to decrypt): 100,000 pairs
        ids.update((wanted[digest], pid) for digest, pid in db.session.connection().execute(
            select(Person.id_number_hash, Person.id).where(Person.id > floor)).all()
            if digest in wanted)
    actor_id = getattr(actor, "id", None)
    employments = [(ids[number], org.id, post.value, "current", manager, start, None, "",
                    actor_id, batch, now)
                   for _row, _name, number, _mobile, post, start, manager in valid]
    employments.sort(key=lambda e: e[0])
    bulk_insert(Employment.__table__, employments, EMPLOYMENT_COLUMNS)
    people_changed.send(Employment.__table__, connection=db.session.connection(),
                        person_ids=[e[0] for e in employments])
    return _stored(actor, org, valid, existing, ids, batch, now, result, progress, keep_mobile,
                   records)


def _stored(actor, org, valid, existing, ids: dict[str, int], batch: str, now,
            result: RosterResult, progress: Progress, keep_mobile: set[str],
            records: dict[str, dict[StaffRecordKind, StaffRecordRow]]) -> RosterResult:
    """After the persons and employments are written: the mobiles of people already
    registered, the staff records, the counts and the audit record."""
    # mobiles given for people already in the registry update their record
    for _row, _name, number, mobile, *_rest in valid:
        if (mobile and number in existing and existing[number][2] != mobile
                and number not in keep_mobile):
            db.session.get(Person, ids[number]).mobile = mobile
    actor_id = getattr(actor, "id", None)
    result.staff_records = _store_records(org, records, ids, existing, actor_id, now)
    progress("store", len(valid) // 2, len(valid))
    # the people this import created have no account yet; those already registered may
    known = sorted({value[0] for value in existing.values()})
    have_account = set()
    for chunk in chunks(known):
        have_account.update(db.session.scalars(select(User.person_id).where(
            one_of(User.person_id, chunk))))
    progress("store", len(valid), len(valid))
    numbers = {number for _r, _n, number, *_x in valid}
    result.batch_id = batch
    result.persons_created = len(numbers - set(existing))
    result.persons_linked = len(numbers & set(existing))
    result.employments = len(valid)
    # Accounts are made when the institution issues their one-time passwords (an account
    # without a password cannot be used), which also keeps a large import fast.
    result.accounts_created = len(set(ids.values())) - len(have_account)
    audit.record(actor, "registry.roster_imported", org, batch=batch, rows=len(valid),
                 persons_created=result.persons_created,
                 persons_without_account=result.accounts_created,
                 staff_records=result.staff_records)
    return result


def _store_records(org, records: dict[str, dict[StaffRecordKind, StaffRecordRow]],
                   ids: dict[str, int], existing, actor_id, now) -> int:
    """The rows' health checks and certificates, in the import's transaction (the institution
    employs the people from now on, so it answers for their records); one the registry holds
    already (same person, kind and date) is not entered twice."""
    held: set[tuple] = set()
    known = sorted(ids[number] for number in records if number in existing)
    for chunk in chunks(known):
        held.update(tuple(r) for r in db.session.execute(
            select(StaffRecord.person_id, StaffRecord.kind, StaffRecord.issued_on)
            .where(one_of(StaffRecord.person_id, chunk))))
    rows = [
        {"person_id": ids[number], "kind": kind.value, "issued_on": record.issued_on,
         "result": record.result.value if record.result else None, "issuer": record.issuer,
         "document_no": record.document_no, "organisation_id": org.id,
         "recorded_by_id": actor_id, "created_at": now}
        for number, by_kind in records.items() for kind, record in by_kind.items()
        if (ids[number], kind.value, record.issued_on) not in held]
    rows.sort(key=lambda r: (r["person_id"], r["kind"], r["issued_on"]))
    bulk_insert(StaffRecord.__table__, rows)
    return len(rows)


def issue_batch_passwords(actor, org: Organisation, batch: str) -> bytes:
    """A sheet of one-time passwords for the people an import registered without an account.

    Their caregiver accounts are created here, for the people whose only current employer
    this institution is (someone working elsewhere too keeps their account to themselves). Passwords are never stored in clear, so each
    download issues new ones and the previous sheet stops working; accounts already in use,
    and accounts the person had before the import, are left alone.
    """
    authorize(actor, can_manage_staff, org=org)
    person_ids = sorted(set(db.session.scalars(select(Employment.person_id).where(
        Employment.organisation_id == org.id, Employment.import_batch == batch))))
    if person_ids:
        _create_batch_accounts(org, batch, person_ids)
    rows = [] if not person_ids else db.session.execute(
        select(User, Person).join(Person, Person.id == User.person_id)
        .join(RosterAccount, RosterAccount.user_id == User.id)
        .where(RosterAccount.batch == batch, User.must_change_password.is_(True),
               User.last_login_at.is_(None))
        .order_by(Person.name)).all()
    if not rows:
        raise DomainError(_l("No account from this import is still waiting for its first "
                             "sign-in."))
    out = []
    for user, person in rows:
        password = auth_service.generate_initial_password()
        user.password_hash = auth_service.hash_initial_password(password)
        auth_service.end_sessions(user)
        out.append([person.name, mask_id_number(person.id_number), person.mobile or "",
                    person.mobile or _("identity number"), password])
    audit.record(actor, "auth.initial_passwords_issued", org, batch=batch, accounts=len(out))
    db.session.flush()
    headers = [_("Name"), _("Identity number"), _("Mobile"), _("Sign in with"),
               _("One-time password")]
    return write_xlsx(headers, out, text_columns={1, 2, 4}, sheet_name="initial-passwords",
                      notes=[_("Hand each person their own row only. The password must be "
                               "changed at first sign-in. Downloading this sheet again issues "
                               "new passwords and makes these stop working.")])


def _create_batch_accounts(org: Organisation, batch: str, person_ids: list[int]) -> None:
    """Caregiver accounts (no password yet) for the batch's people who have none and work
    nowhere else now; the institution is recorded as each account's creator."""
    have = set()
    for chunk in chunks(person_ids):
        have.update(db.session.scalars(select(User.person_id).where(
            one_of(User.person_id, chunk))))
        have.update(db.session.scalars(select(Employment.person_id).where(
            one_of(Employment.person_id, chunk), Employment.end_date.is_(None),
            Employment.organisation_id != org.id)))
    missing = [pid for pid in person_ids if pid not in have]
    if not missing:
        return
    names = {}
    for chunk in chunks(missing):
        names.update(db.session.execute(select(Person.id, Person.name).where(
            one_of(Person.id, chunk))).all())
    now = utcnow()
    floor = max_id(User.__table__)
    bulk_insert(User.__table__, [
        {"display_name": names[pid], "role": Role.CAREGIVER.value, "person_id": pid,
         "password_hash": None, "must_change_password": True, "is_enabled": True,
         "failed_logins": 0, "session_token": auth_service.new_session_token(), "created_at": now}
        for pid in missing])
    wanted = set(missing)
    created = [uid for uid, pid in db.session.execute(
        select(User.id, User.person_id).where(User.id > floor)) if pid in wanted]
    bulk_insert(RosterAccount.__table__, [{"batch": batch, "user_id": uid} for uid in created])
    bulk_insert(AccountOrigin.__table__, [
        {"user_id": uid, "organisation_id": org.id, "created_at": now} for uid in created])


# --- the import as a job ----------------------------------------------------------------------
# The page stores the file with a job record and a worker runs the same check and store as
# above, in one transaction, with progress; the page shows the job's progress and then the
# same result (counts, or the row errors with nothing stored).

IMPORT_JOB = "registry.import_roster"
STAGES = {"read": _l("Reading the file"), "validate": _l("Checking the rows"),
          "check": _l("Checking against the registry"), "store": _l("Storing")}
jobs.titled(IMPORT_JOB, _l("Roster import"))


def start_import(actor, org: Organisation, data: bytes, *, max_rows: int = 200_000,
                 locale: str = "") -> jobs.Job:
    """A queued roster import for `org` holding the uploaded file (jobs.submit starts it)."""
    authorize(actor, can_manage_staff, org=org)
    if org.kind != OrgKind.INSTITUTION:
        raise RosterFileError(_l("Staff are registered at childcare institutions only."))
    job = jobs.new_job(IMPORT_JOB, user=actor, data=data, locale=locale,
                       params={"organisation_id": org.id, "max_rows": max_rows})
    audit.record(actor, "registry.roster_import_started", org, job=job.id)
    return job


def run_import(job: jobs.Job, progress: Progress) -> tuple[dict, str]:
    """The job's work: the import as the job's system actor; row errors and file errors are a
    result (nothing stored), any other error fails the attempt (rolled back, retried)."""
    from lms.core.actors import system_actor

    org = db.session.get(Organisation, job.params["organisation_id"])
    link = f"/institutions/{org.id}/roster?job={job.id}"
    data = jobs.input_of(job)
    try:
        result = import_roster(system_actor(f"jobs:{IMPORT_JOB}"), org, data, progress=progress,
                               max_rows=job.params.get("max_rows", 200_000))
    except DomainError as err:
        db.session.rollback()
        return {"file_error": str(err)}, link
    if not result.ok:
        db.session.rollback()
    return {
        "ok": result.ok, "batch_id": result.batch_id, "rows": result.rows,
        "persons_created": result.persons_created, "persons_linked": result.persons_linked,
        "employments": result.employments, "accounts_created": result.accounts_created,
        "staff_records": result.staff_records,
        "errors": [[e.row, e.column, e.message] for e in result.errors[:5000]],
        "error_count": len(result.errors),
    }, link


@dataclass
class JobResult:
    """A finished import job's result, shaped for the roster page."""

    job: jobs.Job
    file_error: str = ""
    ok: bool = False
    batch_id: str | None = None
    rows: int = 0
    persons_created: int = 0
    persons_linked: int = 0
    employments: int = 0
    accounts_created: int = 0
    staff_records: int = 0
    errors: list[RowError] = field(default_factory=list)
    error_count: int = 0

    @property
    def running(self) -> bool:
        return not self.job.state_enum.finished


def result_of(actor, org: Organisation, job: jobs.Job) -> JobResult | None:
    """The result of this institution's import job for the roster page (None while it runs)."""
    authorize(actor, can_manage_staff, org=org)
    authorize(actor, jobs.can_see_job, job=job)
    if job.kind != IMPORT_JOB or job.params.get("organisation_id") != org.id:
        raise LookupError(job.id)
    if not job.state_enum.finished or job.result is None:
        return JobResult(job=job, file_error=job.error if job.state_enum.finished else "")
    data = job.result
    if "file_error" in data:
        return JobResult(job=job, file_error=data["file_error"])
    return JobResult(job=job, ok=data["ok"], batch_id=data["batch_id"], rows=data["rows"],
                     persons_created=data["persons_created"],
                     persons_linked=data["persons_linked"], employments=data["employments"],
                     accounts_created=data["accounts_created"],
                     staff_records=data.get("staff_records", 0),
                     errors=[RowError(*e) for e in data["errors"]],
                     error_count=data["error_count"])
