"""Bulk inserts for imports of many thousand rows.

SQLAlchemy's executemany builds and processes every parameter set in Python, which cost
more than the database's own work in a 100,000-row roster import. Here the statement is
compiled once, the values are processed column by column (a TypeDecorator's own processing,
encryption, for every value; the dialect's, dates as text on SQLite, once per distinct value),
and the rows go to the driver's executemany as they are, or to COPY on PostgreSQL.
"""

from __future__ import annotations

import gc
import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

from blinker import Namespace
from sqlalchemy import (
    Integer,
    String,
    Table,
    any_,
    bindparam,
    cast,
    func,
    insert,
    literal,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.types import TypeDecorator

from lms.extensions import db

#: how many keys go into one IN (...) lookup: few round trips, well under SQLite's limit
CHUNK = 5000

_signals = Namespace()
#: Sent after rows that decide people's compliance were written in bulk, past the ORM (whose
#: flush events a higher package listens to): the sender is the table, with `connection` (the
#: writing transaction's, to write beside them) and `person_ids`. Lower packages may not import
#: the listeners (DESIGN §3): compliance connects to this signal.
people_changed = _signals.signal("people-changed")


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused for a bulk import. Reading, checking and
    storing 100,000 rows allocates millions of tuples, lists and strings, and each collection
    the allocations trigger walks all of them again: a fifth of a roster import's time
    (tests/bench/README.md). Reference counting frees them as usual; the few reference cycles
    made meanwhile are collected once the collector runs again. The collector is global: a
    thread importing beside another may resume it early, which only costs time."""
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


def chunks(items: list, size: int = CHUNK):
    """Consecutive slices of `items` for IN (...) lookups."""
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _comma_joined(values: list) -> str | None:
    """The keys joined by commas when that text splits back into exactly them: integers, or
    strings without a comma; None otherwise."""
    kinds = set(map(type, values))
    if kinds == {int}:
        return ",".join(map(str, values))
    if kinds == {str}:
        joined = ",".join(values)
        if joined.count(",") == len(values) - 1:
            return joined
    return None


def one_of(column, values: list):
    """`column IN values` for a chunk of keys, as one parameter instead of thousands (which
    the driver and the planner each parse): `= ANY(array)` on PostgreSQL, `IN (SELECT value
    FROM json_each(?))` on SQLite; one key is a plain `column = key`. An encrypted number
    (lms.registry.models.IdNumberComparator) is looked up by its keyed hashes."""
    hashed = getattr(column, "hashed", None)
    if callable(hashed):
        column, values = hashed(values)
    if len(values) == 1:  # one person's page or API answer: a plain equality
        return column == values[0]
    if db.engine.dialect.name == "postgresql":
        joined = _comma_joined(values)
        if joined is not None:
            # the keys as one text the server splits: psycopg quotes a text array element by
            # element (a regular expression each), which cost a 100,000-row import half a second
            return column == any_(cast(func.string_to_array(
                bindparam(None, joined, type_=String), ","), ARRAY(column.type)))
        return column == any_(bindparam(None, values, type_=ARRAY(column.type)))
    if sqlite3.sqlite_version_info >= (3, 38) and all(isinstance(v, (int, str)) for v in values):
        # SQLite: the keys as one JSON array that json_each reads back (built into SQLite since
        # 3.38), also one parameter: SQLAlchemy expands an IN list value by value on every
        # execution, which cost more than the lookups themselves in a 100,000-row import
        each = func.json_each(bindparam(None, json.dumps(values), type_=String)).table_valued(
            "value")
        return column.in_(select(each.c.value))
    return column.in_(values)


def each_of(values: list[int], dialect: str):
    """Integer keys as the rows of a one-column table, `value`, to INSERT ... SELECT from:
    `unnest` of one comma-joined text on PostgreSQL, `json_each` of one JSON array on SQLite;
    one parameter either way, as in `one_of`."""
    if dialect == "postgresql":
        joined = bindparam(None, ",".join(map(str, values)), type_=String)
        return func.unnest(cast(func.string_to_array(joined, ","), ARRAY(Integer))).table_valued(
            "value").render_derived()  # AS anon_1(value): unnest's column named
    return func.json_each(bindparam(None, json.dumps(values), type_=String)).table_valued("value")


def bulk_insert(table: Table, rows: list, keys: list[str] | None = None, *,
                connection=None) -> None:
    """Insert rows inside the session's transaction (or `connection`'s): dicts that all carry
    the same keys, or tuples of the values of `keys` in that order (no dict per row: faster for
    100,000 rows)."""
    if not rows:
        return
    connection = connection if connection is not None else db.session.connection()
    dialect = connection.dialect
    if keys is None:
        keys = list(rows[0])
        if dialect.name == "postgresql":
            rows = [tuple(row[key] for key in keys) for row in rows]
        else:
            columns = [[row[key] for row in rows] for key in keys]
    elif dialect.name != "postgresql":
        columns = [list(column) for column in zip(*rows, strict=True)]
    if dialect.name == "postgresql":
        copy_rows(connection, table, keys, copy_ready(table, keys, rows, dialect))
        return
    if len(columns) != len(keys):
        raise ValueError(f"{len(keys)} keys for rows of {len(columns)} values")
    # column by column: each column's values through its type's processing in one loop, then
    # zipped back into rows
    columns = [_bound(table.c[key].type, column, dialect, driver=True)
               for key, column in zip(keys, columns, strict=True)]
    compiled = insert(table).compile(dialect=dialect, column_keys=keys)
    position = {key: i for i, key in enumerate(keys)}
    order = list(compiled.positiontup) if compiled.positional else keys
    params = list(zip(*(columns[position[key]] for key in order), strict=True))
    if not compiled.positional:
        params = [dict(zip(order, values, strict=True)) for values in params]
    connection.exec_driver_sql(str(compiled), params)


def _bound(column_type, values: list, dialect, *, driver: bool) -> list:
    """A column's values as the database takes them. A TypeDecorator's own processing
    (encryption, lms.core.crypto) always runs, once per value; with `driver` (executemany) the
    dialect's processing too (dates as text on SQLite), once per distinct value: imports repeat
    values (one timestamp, a few thousand start dates). COPY takes Python values as they are."""
    if isinstance(column_type, TypeDecorator):
        many = getattr(column_type, "process_bind_many", None)
        values = (many(values, dialect) if many is not None else
                  [column_type.process_bind_param(value, dialect) for value in values])
        column_type = column_type.load_dialect_impl(dialect)
    if not driver:
        return values
    processor = column_type.dialect_impl(dialect).bind_processor(dialect)
    if processor is None:
        return values
    try:
        # one class (and None): equal values are equal inputs (not so 1 and True, or 1 and 1.0)
        same = len(set(map(type, values)) - {type(None)}) <= 1
        distinct = set(values) if same else None
    except TypeError:  # unhashable: a JSON column's dict
        distinct = None
    if distinct is None:
        return [processor(value) for value in values]
    converted = {value: processor(value) for value in distinct}
    return list(map(converted.__getitem__, values))


def decorated(table: Table, keys: list[str], dialect) -> list:
    """For each key, the processing its column's own type adds (a TypeDecorator: encryption,
    lms.core.crypto) or None: COPY bypasses SQLAlchemy's bind processing, but must not bypass
    that."""
    return [(lambda value, t=table.c[key].type: t.process_bind_param(value, dialect))
            if isinstance(table.c[key].type, TypeDecorator) else None for key in keys]


def copy_ready(table: Table, keys: list[str], rows: list[tuple], dialect) -> list[tuple]:
    """Rows of `keys`' values as COPY takes them: the columns of a TypeDecorator (encryption)
    through its own processing, the others as they are (psycopg adapts them). Done apart from
    `copy_rows` by a writer that hands the copying to another thread (lms.registry.roster)."""
    decorated = [i for i, key in enumerate(keys) if isinstance(table.c[key].type, TypeDecorator)]
    if not decorated or not rows:
        return rows
    columns = list(zip(*rows, strict=True))
    if len(columns) != len(keys):
        raise ValueError(f"{len(keys)} keys for rows of {len(columns)} values")
    for i in decorated:
        columns[i] = _bound(table.c[keys[i]].type, list(columns[i]), dialect, driver=False)
    return list(zip(*columns, strict=True))


#: what `array_insert` joins a column's values with: a control character, which no stored text
#: holds (names, mobiles and identity numbers are checked before they are stored; a name's
#: control characters are dropped)
SEPARATOR = "\x1f"


def array_insert(table: Table, keys: list[str], rows: list[tuple], constants: dict | None = None):
    """PostgreSQL: rows (tuples of `keys`' values, as `copy_ready` gives them) as one
    `INSERT ... SELECT ... FROM unnest(...)` statement, each column's values joined into one
    text that the server splits (`string_to_array`) and casts, `constants` the same in every
    row; or None when a value cannot travel so (an empty or separator-holding text, another
    type), for COPY to take them instead. Joining a column is one C-level call where COPY
    formats row by row in Python under the GIL, which a thread waiting on the database for
    another's work must take turns with (lms.registry.roster)."""
    columns = list(zip(*rows, strict=True))
    if len(columns) != len(keys):
        return None
    arrays = []
    for key, values in zip(keys, columns, strict=True):
        text = _joined(values)
        if text is None:
            return None
        column_type = table.c[key].type
        if isinstance(column_type, TypeDecorator):
            column_type = column_type.impl_instance
        arrays.append(cast(func.string_to_array(bindparam(None, text, type_=String), SEPARATOR,
                                                ""), ARRAY(column_type)))
    values = func.unnest(*arrays).table_valued(*keys).render_derived()
    constants = constants or {}
    selected = [values.c[key] for key in keys] + [
        literal(value, table.c[key].type) for key, value in constants.items()]
    return insert(table).from_select([*keys, *constants], select(*selected))


def _joined(values: tuple) -> str | None:
    kinds = set(map(type, values))
    nulls = type(None) in kinds
    kinds.discard(type(None))
    if kinds == {bool}:
        texts = ["" if v is None else "t" if v else "f" for v in values]
    elif kinds == {int} or kinds == {date}:
        texts = ["" if v is None else str(v) for v in values] if nulls else list(map(str, values))
    elif kinds == {str}:
        if "" in values:
            return None  # it would come back as NULL
        texts = ["" if v is None else v for v in values] if nulls else values
    else:
        return None  # datetimes, decimals, other types: COPY adapts them
    joined = SEPARATOR.join(texts)
    if joined.count(SEPARATOR) != len(texts) - 1:
        return None
    return joined


def copy_rows(connection, table: Table, keys: list[str], rows) -> None:
    """PostgreSQL's COPY of rows that `copy_ready` gave, on `connection` (in its transaction)."""
    _copy(connection, table, keys, rows)


def _copy(connection, table: Table, keys: list[str], rows) -> None:
    # PostgreSQL's COPY: one stream instead of a round trip per row; psycopg adapts the values
    cursor = connection.connection.driver_connection.cursor()
    columns = ", ".join(f'"{key}"' for key in keys)
    with cursor.copy(f'COPY "{table.name}" ({columns}) FROM STDIN') as copy:  # noqa: S608
        write = copy.write_row
        for row in rows:
            write(row)


def max_id(table: Table) -> int:
    """The highest id so far: rows inserted after this call have larger ids."""
    return db.session.scalar(select(func.coalesce(func.max(table.c.id), 0)))
