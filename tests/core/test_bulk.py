"""lms.core.bulk.bulk_insert stores what the ORM stores: dict rows and tuple rows alike, the
dialect's processing (dates and times as text on SQLite) and the column types' own (encryption)
applied, on SQLite (executemany) and PostgreSQL (COPY); array_insert stores what COPY stores,
and leaves to COPY what it cannot carry."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select, text

from lms.core.bulk import SEPARATOR, _bound, array_insert, bulk_insert, copy_ready, one_of
from lms.core.crypto import keyring
from lms.extensions import db
from lms.registry.models import Employment, Person, id_number_columns
from tests.factories import id_number

NOW = datetime(2026, 12, 4, 9, 30, 0)  # no microseconds: the format must still match the ORM's
LATER = datetime(2026, 12, 4, 9, 30, 0, 123456)


def _person_values(n: int, created: datetime) -> dict:
    number = id_number("320102", f"1990030{n}", n)
    enc, digest, tail = id_number_columns(number)
    return {"id_number_enc": enc, "id_number_hash": digest, "id_number_tail": tail,
            "name": f"张{n}", "mobile": None if n % 2 else f"1391234567{n}", "gender": "female",
            "birth_date": date(1990, 3, n), "created_at": created, "updated_at": created}


def _raw(table: str, ids: list[int], columns: str) -> list[tuple]:
    return [tuple(r) for r in db.session.execute(text(
        f"SELECT {columns} FROM {table} WHERE id IN ({', '.join(map(str, ids))}) "  # noqa: S608
        "ORDER BY id"))]


def test_dict_rows_tuple_rows_and_the_orm_store_the_same_values(world):
    org, by = world.inst, world.users["admin"]
    db.session.add(Person(id_number=id_number("320102", "19900301", 1), name="张1", mobile=None,
                          gender="female", birth_date=date(1990, 3, 1), created_at=NOW,
                          updated_at=NOW))
    db.session.flush()
    dict_row = _person_values(2, NOW)
    tuple_row = _person_values(3, LATER)
    bulk_insert(Person.__table__, [dict_row])
    bulk_insert(Person.__table__, [tuple(tuple_row.values())], list(tuple_row))
    people = {p.name: p for p in db.session.scalars(select(Person).where(
        Person.name.in_(["张1", "张2", "张3"])))}
    assert {n: p.id_number for n, p in people.items()} == {
        "张1": id_number("320102", "19900301", 1), "张2": id_number("320102", "19900302", 2),
        "张3": id_number("320102", "19900303", 3)}
    for name, when in (("张1", NOW), ("张2", NOW), ("张3", LATER)):
        person = people[name]
        db.session.refresh(person)
        assert (person.created_at, person.updated_at) == (when, when)
        assert person == db.session.scalar(select(Person).where(
            Person.id_number == person.id_number))  # found by its lookup hash
    ids = sorted(p.id for p in people.values())
    # the stored text of dates and times is the ORM's own, whichever way the row came in
    stored = _raw("persons", ids, "birth_date, created_at, updated_at")
    if db.engine.dialect.name == "sqlite":
        assert stored == [("1990-03-01", "2026-12-04 09:30:00.000000", "2026-12-04 09:30:00.000000"),
                          ("1990-03-02", "2026-12-04 09:30:00.000000", "2026-12-04 09:30:00.000000"),
                          ("1990-03-03", "2026-12-04 09:30:00.123456", "2026-12-04 09:30:00.123456")]
    # encrypted: no plaintext number stored, and each row its own ciphertext
    tokens = [r[0] for r in _raw("persons", ids, "id_number_enc")]
    assert len(set(tokens)) == 3
    assert all(keyring().decrypt(t, "id_number") == people[f"张{i + 1}"].id_number
               for i, t in enumerate(tokens))
    # booleans, repeated values (processed once per distinct value) and NULLs
    posts = ["nursery_carer", "infant_carer", "early_educator", "nursery_carer"]
    rows = [(people["张3" if i == 3 else "张2"].id, org.id, post, "current", i % 2 == 0,
             date(2024, 1, 1 + i % 2), None, "", by.id, "batch", NOW)
            for i, post in enumerate(posts)]
    keys = ["person_id", "organisation_id", "post", "state", "is_direct_manager", "start_date",
            "end_date", "end_reason", "created_by_id", "import_batch", "created_at"]
    bulk_insert(Employment.__table__, rows, keys)
    got = sorted((e.person_id, e.post, e.is_direct_manager, e.start_date, e.end_date, e.created_at)
                 for e in db.session.scalars(select(Employment).where(
                     Employment.import_batch == "batch")))
    assert got == sorted((r[0], r[2], r[4], r[5], None, NOW) for r in rows)


def test_one_of_finds_what_in_finds(world):
    """one_of (json_each on SQLite; on PostgreSQL = ANY of the keys as one comma-joined text,
    or of an array when a key holds a comma) against a plain IN, for integer keys, text keys
    and encrypted numbers (looked up by their hashes)."""
    people = list(db.session.scalars(select(Person)))
    assert len(people) >= 2
    ids = [p.id for p in people] + [10**9]
    numbers = [p.id_number for p in people] + [id_number("110101", "19800101", 1)]
    mobiles = [p.mobile for p in people if p.mobile] + ["13900000000", "1'); --"]
    names = [p.name for p in people]
    for column, keys in ((Person.id, ids), (Person.id_number, numbers), (Person.mobile, mobiles),
                         (Person.id, ids[:1]), (Person.id, []), (Person.name, [*names, ""]),
                         (Person.name, [*names, "甲,乙"]), (Person.mobile, [*mobiles, ","])):
        found = set(db.session.scalars(select(Person.id).where(one_of(column, keys))))
        assert found == set(db.session.scalars(select(Person.id).where(column.in_(keys))))


def test_a_column_is_processed_once_per_distinct_value_with_the_same_result():
    from sqlalchemy import Boolean, Date, DateTime
    from sqlalchemy.dialects import sqlite

    dialect = sqlite.dialect()
    cases = [
        (Date(), [date(2024, 1, 1), None, date(2024, 1, 2), date(2024, 1, 1)] * 3),
        (DateTime(), [NOW, LATER, NOW, None]),
        (Boolean(), [True, False, True, None]),
        (Boolean(), [True, 1, 0, False]),  # equal keys of two classes: processed one by one
        (Date(), [date(2024, 1, 1), datetime(2024, 1, 1, 8, 0)]),
    ]
    for column_type, values in cases:
        processor = column_type.dialect_impl(dialect).bind_processor(dialect)
        assert _bound(column_type, values, dialect, driver=True) == [processor(v) for v in values]
        assert _bound(column_type, values, dialect, driver=False) == values


def test_array_insert_stores_what_copy_stores_and_leaves_the_rest_to_copy(world):
    keys = ["id_number_enc", "id_number_hash", "id_number_tail", "name", "mobile", "gender",
            "birth_date"]
    table = Person.__table__
    rows = [tuple(_person_values(n, NOW)[k] for k in keys) for n in (4, 5, 6)]
    # what a column cannot carry as joined text: an empty text (it would come back NULL), the
    # separator, a type COPY adapts instead; then the caller writes that chunk with COPY
    for bad in ("", f"张{SEPARATOR}4"):
        assert array_insert(table, keys, [(*rows[0][:3], bad, *rows[0][4:]), *rows[1:]]) is None
    assert array_insert(table, ["created_at"], [(NOW,)]) is None
    statement = array_insert(table, keys, copy_ready(table, keys, rows, db.engine.dialect),
                             {"created_at": NOW, "updated_at": LATER})
    assert statement is not None
    if db.engine.dialect.name != "postgresql":
        assert db.engine.dialect.name == "sqlite"  # SQLite has no unnest: bulk_insert is used
        return
    db.session.execute(statement)
    people = {p.name: p for p in db.session.scalars(select(Person).where(
        Person.name.in_(["张4", "张5", "张6"])))}
    assert {name: (p.id_number, p.mobile, p.birth_date, p.created_at, p.updated_at)
            for name, p in people.items()} == {
        f"张{n}": (id_number("320102", f"1990030{n}", n), None if n % 2 else f"1391234567{n}",
                  date(1990, 3, n), NOW, LATER) for n in (4, 5, 6)}
    # found by the lookup hash the statement stored, the number decrypted from its ciphertext
    assert db.session.scalar(select(Person.name).where(
        Person.id_number == id_number("320102", "19900305", 5))) == "张5"
