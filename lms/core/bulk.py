"""Bulk inserts for imports of many thousand rows.

SQLAlchemy's executemany builds and processes every parameter set in Python, which cost
more than the database's own work in a 100,000-row roster import. Here the statement is
compiled once, each value goes through its column type's public bind processor (dates on
SQLite, for instance), and the rows go to the driver's executemany as they are.
"""

from __future__ import annotations

from sqlalchemy import Table, any_, bindparam, func, insert, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.types import TypeDecorator

from lms.extensions import db

#: how many keys go into one IN (...) lookup: few round trips, well under SQLite's limit
CHUNK = 5000


def chunks(items: list, size: int = CHUNK):
    """Consecutive slices of `items` for IN (...) lookups."""
    for start in range(0, len(items), size):
        yield items[start:start + size]


def one_of(column, values: list):
    """`column IN values` for a chunk of keys. On PostgreSQL it is `= ANY(array)`, one
    parameter instead of thousands (which the driver and the planner each parse); one key is a
    plain `column = key`. An encrypted
    number (lms.registry.models.IdNumberComparator) is looked up by its keyed hashes."""
    hashed = getattr(column, "hashed", None)
    if callable(hashed):
        column, values = hashed(values)
    if len(values) == 1:  # one person's page or API answer: a plain equality
        return column == values[0]
    if db.engine.dialect.name == "postgresql":
        return column == any_(bindparam(None, values, type_=ARRAY(column.type)))
    return column.in_(values)


def bulk_insert(table: Table, rows: list[dict]) -> None:
    """Insert rows that all carry the same keys, inside the session's transaction."""
    if not rows:
        return
    keys = list(rows[0])
    connection = db.session.connection()
    dialect = connection.dialect
    if dialect.name == "postgresql":
        _copy(connection, table, keys, rows)
        return
    compiled = insert(table).compile(dialect=dialect, column_keys=keys)
    processors = {key: table.c[key].type.bind_processor(dialect) for key in keys}
    order = list(compiled.positiontup) if compiled.positional else keys
    # column by column: each column's values through its processor (if it has one) with map,
    # then zipped back into rows, all in C loops instead of a generator per row
    columns = [[row[key] for row in rows] for key in order]
    columns = [column if processors[key] is None else list(map(_memoised(processors[key]), column))
               for key, column in zip(order, columns, strict=True)]
    params = list(zip(*columns, strict=True))
    if not compiled.positional:
        params = [dict(zip(order, values, strict=True)) for values in params]
    connection.exec_driver_sql(str(compiled), params)


def decorated(table: Table, keys: list[str], dialect) -> list:
    """For each key, the processing its column's own type adds (a TypeDecorator: encryption,
    lms.core.crypto) or None: COPY bypasses SQLAlchemy's bind processing, but must not bypass
    that."""
    return [(lambda value, t=table.c[key].type: t.process_bind_param(value, dialect))
            if isinstance(table.c[key].type, TypeDecorator) else None for key in keys]


def _copy(connection, table: Table, keys: list[str], rows: list[dict]) -> None:
    # PostgreSQL's COPY: one stream instead of a round trip per row; psycopg adapts the values
    cursor = connection.connection.driver_connection.cursor()
    columns = ", ".join(f'"{key}"' for key in keys)
    processors = decorated(table, keys, connection.dialect)
    processed = [(i, p) for i, p in enumerate(processors) if p is not None]
    with cursor.copy(f'COPY "{table.name}" ({columns}) FROM STDIN') as copy:  # noqa: S608
        for row in rows:
            values = [row[key] for key in keys]
            for i, process in processed:
                values[i] = process(values[i])
            copy.write_row(values)


def max_id(table: Table) -> int:
    """The highest id so far: rows inserted after this call have larger ids."""
    return db.session.scalar(select(func.coalesce(func.max(table.c.id), 0)))


def _memoised(processor):
    """The processor, remembering its last result: imports repeat values (one timestamp,
    one organisation, a few start dates) and date formatting is the slow part."""
    if processor is None:
        return lambda value: value
    last = [object(), None]

    def convert(value):
        if value is not last[0]:
            last[0], last[1] = value, processor(value)
        return last[1]

    return convert
