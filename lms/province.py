"""A synthetic province for scale work: `flask lms generate-province`.

One million persons in 20,000 institutions of 100 districts (about 1.2 employments each),
30 ledger entries per person with the yearly totals beside them, certificates, health checks,
certificates of no criminal record and a few hundred bans. Built for PostgreSQL, where rows go
in with COPY and the ledger with INSERT ... SELECT on the server; SQLite takes the same path
with executemany, for small provinces in tests.

Every row is a function of its index (no randomness), so two runs of the same size build the
same province and a benchmark can name the people it asks about. The generator writes the
registry's, the ledger's and the staff records' own tables directly (a bulk load, like a
migration of another system's data), then the compliance snapshots are refreshed from them.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, select, text
from stdnum.cn import ric

from lms.core.bulk import decorated
from lms.core.clock import local_today, utc_now
from lms.extensions import db
from lms.registry.models import (
    Person,
    Post,
    PostRequirement,
    QualificationType,
    id_number_columns,
)

#: the 13 county-level codes of a real province's capital (Nanjing) opening the identity numbers
REGIONS = ("320102", "320104", "320105", "320106", "320111", "320113", "320114", "320115",
           "320116", "320117", "320118", "320121", "320124")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁"
GIVEN = ["晓雯", "丽", "静", "敏", "婷", "雪", "芳", "娜", "秀英", "桂兰", "玉兰", "海燕", "红梅", "春花",
         "欣怡", "梓涵", "子涵", "雨桐", "佳怡", "思琪", "梦瑶", "慧", "倩", "颖", "琳", "洁", "艳", "霞"]
#: posts and their share of employments (out of 20): carers most, one director per institution
POST_MIX = ([Post.NURSERY_CARER] * 8 + [Post.INFANT_CARER] * 5 + [Post.EARLY_EDUCATOR] * 3
            + [Post.HEALTH_CARE] * 2 + [Post.FOOD_SAFETY, Post.SECURITY])
LEDGER_ENTRIES_PER_PERSON = 30


@dataclass(frozen=True)
class Size:
    persons: int = 1_000_000
    institutions: int = 20_000
    districts: int = 100
    bans: int = 300

    @classmethod
    def small(cls) -> Size:
        return cls(persons=2_000, institutions=40, districts=4, bans=6)


def id_number_of(i: int) -> str:
    """The i-th person's identity number: unique for i below 13 * 14,600 * 999."""
    region = REGIONS[i % len(REGIONS)]
    rest = i // len(REGIONS)
    born = date(1966, 1, 1) + timedelta(days=rest // 999 % 14_600)
    body = f"{region}{born:%Y%m%d}{rest % 999 + 1:03d}"
    return body + ric.calc_check_digit(body + "0")  # it reads the first 17 of 18


def name_of(i: int) -> str:
    return SURNAMES[i % len(SURNAMES)] + GIVEN[(i // len(SURNAMES)) % len(GIVEN)]


# --- bulk loading ---------------------------------------------------------------------------------


def _copy_value(value) -> str:
    if value is None:
        return r"\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def load(table: str, columns: list[str], rows: Iterable[tuple]) -> int:
    """Append rows to a table in bulk: COPY on PostgreSQL, executemany elsewhere."""
    assert table in db.metadata.tables, table  # never a name from outside
    connection = db.session.connection()
    count = 0
    if connection.dialect.name == "postgresql":
        raw = connection.connection.dbapi_connection
        # COPY skips SQLAlchemy: the encrypting column types are applied here (lms.core.bulk)
        processed = [(i, p) for i, p in enumerate(
            decorated(db.metadata.tables[table], columns, connection.dialect)) if p is not None]
        with raw.cursor() as cursor:
            with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                buffer = io.StringIO()
                for row in rows:
                    if processed:
                        row = list(row)
                        for i, process in processed:
                            row[i] = process(row[i])
                    buffer.write("\t".join(_copy_value(v) for v in row) + "\n")
                    count += 1
                    if count % 50_000 == 0:
                        copy.write(buffer.getvalue())
                        buffer = io.StringIO()
                copy.write(buffer.getvalue())
        return count
    statement = db.metadata.tables[table].insert()
    batch: list[dict] = []
    for row in rows:
        batch.append(dict(zip(columns, row, strict=True)))
        count += 1
        if len(batch) == 10_000:
            connection.execute(statement, batch)
            batch = []
    if batch:
        connection.execute(statement, batch)
    return count


def _next_id(table: str) -> int:
    column = db.metadata.tables[table].c.id
    return (db.session.execute(select(func.max(column))).scalar() or 0) + 1


def _reset_sequences(tables: Iterable[str]) -> None:
    """COPY with explicit ids leaves PostgreSQL's sequences behind: move them past the rows."""
    if db.session.connection().dialect.name != "postgresql":
        return
    for table in tables:
        last = _next_id(table) - 1
        if last:
            db.session.execute(select(func.setval(func.pg_get_serial_sequence(table, "id"), last)))


# --- the province ---------------------------------------------------------------------------------


class ProvinceExists(RuntimeError):
    pass


@dataclass
class Built:
    districts: int = 0
    institutions: int = 0
    persons: int = 0
    employments: int = 0
    ledger_entries: int = 0
    qualifications: int = 0
    staff_records: int = 0
    bans: int = 0


def generate(size: Size, progress: Callable[[str, int], None] = lambda step, n: None) -> Built:
    """Build the province into an empty registry (ids continue after what is there)."""
    today = local_today()
    now = utc_now()
    year = today.year
    built = Built()
    if db.session.scalar(select(Person.id).where(Person.id_number == id_number_of(0))):
        raise ProvinceExists("a generated province is already in this database")
    types = {t.code: t for t in db.session.scalars(select(QualificationType))}
    if not types:
        raise RuntimeError("run `flask lms init` first: the qualification types are missing")
    rules = {}
    for rule in db.session.scalars(select(PostRequirement).order_by(PostRequirement.id)):
        rules.setdefault(rule.post, rule)

    # districts: codes 900000.. (no real division uses them), so a province can sit beside
    # the demo city; they label districts and never open an identity number
    first_district = _next_id("districts")
    built.districts = load("districts", ["id", "code", "name", "city"], (
        (first_district + d, f"9{d:05d}", f"样例{d + 1}区", "样例市") for d in range(size.districts)))
    progress("districts", built.districts)

    first_org = _next_id("organisations")
    built.institutions = load(
        "organisations",
        ["id", "kind", "name", "district_id", "credit_code", "filing_no", "address", "is_active",
         "created_at"],
        ((first_org + o, "institution", f"样例托育园{o + 1:05d}", first_district + o % size.districts,
          None, f"GEN-{first_org + o}", "", True, now) for o in range(size.institutions)))
    progress("institutions", built.institutions)

    first_person = _next_id("persons")

    def persons() -> Iterator[tuple]:
        for i in range(size.persons):
            number = id_number_of(i)
            born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
            gender = "male" if int(number[16]) % 2 else "female"
            yield (first_person + i, *id_number_columns(number), name_of(i), gender, born, None,
                   now, now)

    built.persons = load("persons", ["id", "id_number_enc", "id_number_hash", "id_number_tail",
                                     "name", "gender", "birth_date", "mobile", "created_at",
                                     "updated_at"], persons())
    progress("persons", built.persons)

    # employments: everyone at one institution; one in five has a second row — mostly an
    # ended earlier job, one in a hundred a second current one elsewhere (挂靠)
    first_employment = _next_id("employments")

    def employments() -> Iterator[tuple]:
        eid = first_employment
        for i in range(size.persons):
            org = first_org + (i * 7919) % size.institutions
            post = Post.DIRECTOR if i < size.institutions else POST_MIX[i % len(POST_MIX)]
            if i < size.institutions:  # the first persons direct each institution
                org = first_org + i
            start = date(year - 1 - i % 8, 1 + i % 12, 1)
            yield (eid, first_person + i, org, post.value, post is Post.DIRECTOR, start,
                   "current", None, "", now)
            eid += 1
            if i % 5 == 0:
                other = first_org + (i * 104_729 + 1) % size.institutions
                if other == org:
                    continue
                if i % 100 == 0:  # a second current post elsewhere
                    yield (eid, first_person + i, other, Post.NURSERY_CARER.value, False,
                           start, "current", None, "", now)
                else:
                    yield (eid, first_person + i, other, post.value, False,
                           date(start.year - 3, 3, 1), "ended", date(start.year - 1, 2, 1),
                           "合同到期", now)
                eid += 1

    built.employments = load("employments", [
        "id", "person_id", "organisation_id", "post", "is_direct_manager", "start_date", "state",
        "end_date", "end_reason", "created_at"], employments())
    progress("employments", built.employments)

    # certificates for the post: nine in ten hold one; some expire within 90 days, some lapsed
    first_q = _next_id("qualifications")

    def qualifications() -> Iterator[tuple]:
        qid = first_q
        for i in range(size.persons):
            post = Post.DIRECTOR if i < size.institutions else POST_MIX[i % len(POST_MIX)]
            rule = rules.get(post.value)
            if rule is None or i % 10 == 3:
                continue
            qtype = rule.qualification_type
            level = None
            if qtype.has_levels:
                level = rule.min_level or 5
                if i % 10 == 7 and level < 5:
                    level += 1  # one level short of the post's minimum (5 is the lowest)
            issued = date(year - 1 - i % 4, 1 + i % 12, 10)
            expires = None
            if qtype.validity_months:
                expires = issued + timedelta(days=30 * qtype.validity_months)
                if i % 37 == 0:
                    expires = today + timedelta(days=20 + i % 60)  # expiring soon
            if expires is not None and expires < issued:
                expires = issued
            yield (qid, first_person + i, qtype.id, level, f"GEN{qid:09d}", "样例鉴定中心", issued,
                   expires, None, "external", None, None, now)
            qid += 1

    built.qualifications = load("qualifications", [
        "id", "person_id", "qualification_type_id", "level", "certificate_no", "issuer",
        "issued_on", "expires_on", "revoked_at", "source", "checked_at", "checked_by_id",
        "created_at"], qualifications())
    progress("qualifications", built.qualifications)

    # health checks (nine in ten, one in twelve of them lapsed) and certificates of no
    # criminal record (eight in ten)
    first_record = _next_id("staff_records")

    def staff_records() -> Iterator[tuple]:
        rid = first_record
        for i in range(size.persons):
            org = first_org + (i * 7919) % size.institutions
            if i % 10 != 9:
                checked = today - timedelta(days=(400 if i % 12 == 0 else 10 + i % 300))
                yield (rid, first_person + i, "health_check", checked, "fit", "样例体检中心",
                       "", org, None, now)
                rid += 1
            if i % 5 != 4:
                yield (rid, first_person + i, "no_criminal_record",
                       today - timedelta(days=30 + i % 900), None, "样例公安分局", "", org, None, now)
                rid += 1

    built.staff_records = load("staff_records", [
        "id", "person_id", "kind", "issued_on", "result", "issuer", "document_no",
        "organisation_id", "recorded_by_id", "created_at"], staff_records())
    progress("staff records", built.staff_records)

    # bans: lifetime bans of people still employed (the regulator's must-be-zero count) and
    # of people never registered
    first_ban = _next_id("bans")
    built.bans = load("bans", [
        "id", "id_number_enc", "id_number_hash", "id_number_tail", "person_id", "name", "kind",
        "starts_on", "ends_on", "reason", "decision_ref", "lift_reason", "created_at"], (
        (first_ban + b, *id_number_columns(id_number_of(size.persons + b) if b % 2
                                           else id_number_of(b * 997 % size.persons)),
         None if b % 2 else first_person + b * 997 % size.persons,
         name_of(size.persons + b) if b % 2 else name_of(b * 997 % size.persons),
         "lifetime", date(year - 1, 6, 1), None, "样例处理决定", f"样卫监禁〔{year - 1}〕{b + 1}号",
         "", now) for b in range(size.bans)))
    progress("bans", built.bans)

    built.ledger_entries = _ledger(first_person, size.persons, year, now, progress)
    _reset_sequences(["districts", "organisations", "persons", "employments", "qualifications",
                      "staff_records", "bans", "ledger_entries"])
    if db.session.connection().dialect.name == "postgresql":
        db.session.execute(text("ANALYZE"))
    return built


def _ledger(first_person: int, persons: int, year: int, now: datetime,
            progress: Callable[[str, int], None]) -> int:
    """30 entries a person, written on the server: half last year, half this year (this
    year's hours scattered so that some are on track and some behind), then the totals."""
    db.session.execute(text("CREATE TEMPORARY TABLE gen_numbers (n INTEGER PRIMARY KEY)"))
    db.session.execute(text("INSERT INTO gen_numbers (n) VALUES (:n)"),
                       [{"n": n} for n in range(LEDGER_ENTRIES_PER_PERSON)])
    written = 0
    chunk = 50_000
    for start in range(first_person, first_person + persons, chunk):
        end = min(start + chunk, first_person + persons)
        # entry n: even n skills, odd n ethics; n < 15 last year; hours 1..5 by person and n
        db.session.execute(text(
            "INSERT INTO ledger_entries (person_id, year, category, hours, source_type, "
            "source_ref, description, recorded_by_label, created_at, reason) "
            "SELECT p.id, CASE WHEN g.n < 15 THEN :last ELSE :this END, "
            "CASE WHEN g.n % 2 = 0 THEN 'skills' ELSE 'ethics' END, "
            "((p.id * 7 + g.n * 3) % 5) + 1, 'lesson', 'gen-' || g.n, '', 'system', :now, '' "
            "FROM persons p CROSS JOIN gen_numbers g WHERE p.id >= :start AND p.id < :end"),
            {"last": year - 1, "this": year, "now": now, "start": start, "end": end})
        written += (end - start) * LEDGER_ENTRIES_PER_PERSON
        progress("ledger entries", (end - start) * LEDGER_ENTRIES_PER_PERSON)
    db.session.execute(text(
        "INSERT INTO ledger_totals (person_id, year, category, hours, entries) "
        "SELECT person_id, year, category, SUM(hours), COUNT(*) FROM ledger_entries "
        "WHERE person_id >= :first AND person_id < :end GROUP BY person_id, year, category"),
        {"first": first_person, "end": first_person + persons})
    db.session.execute(text("DROP TABLE gen_numbers"))
    progress("ledger totals", persons)
    return written
