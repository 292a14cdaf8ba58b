"""The roster import in chunks: on PostgreSQL each chunk of checked rows is written by a second
thread while the next is checked on a second connection (lms.registry.roster._Pipeline); on
SQLite everything is checked, then stored. Either way the rows link across chunks, every row
error is listed, and an error or a failed write anywhere leaves nothing stored.

CHUNK_ROWS is set to a few rows so that a small roster spans several chunks.
"""

from __future__ import annotations

from datetime import date

import pytest
from flask_babel import force_locale
from sqlalchemy import func, insert, select, text

from lms.compliance.models import ComplianceDirty
from lms.core.models import utcnow
from lms.extensions import db
from lms.registry import roster
from lms.registry.models import Employment, Person, id_number_row
from tests.registry.test_roster import counts, person_row, pid, pname, run, xlsx


@pytest.fixture(autouse=True)
def _small_chunks(monkeypatch):
    monkeypatch.setattr(roster, "CHUNK_ROWS", 2)
    with force_locale("en"):
        yield


def _postgresql() -> bool:
    return db.engine.dialect.name == "postgresql"


def _marked() -> set[int]:
    return set(db.session.scalars(select(ComplianceDirty.person_id)))


def _employments(number: str) -> list[tuple[str, str]]:
    return sorted(db.session.execute(
        select(Employment.post, Employment.import_batch).join(Person)
        .where(Person.id_number == number)).all())


def test_the_pipeline_is_taken_on_postgresql_when_nothing_is_written_yet(world):
    db.session.commit()
    assert roster._may_pipeline() is _postgresql()
    db.session.rollback()
    world.inst.name = "小橡树托育中心（新址）"  # a write the second connection could not see
    assert roster._may_pipeline() is False
    db.session.rollback()


def test_rows_of_different_chunks_make_one_person_and_are_marked_for_compliance(world):
    db.session.execute(ComplianceDirty.__table__.delete())
    db.session.commit()
    before = counts()
    rows = [person_row(n) for n in range(1, 7)]
    rows.append(person_row(2, post="育婴员"))  # row 8: the person of row 3, chunks before
    rows.append([world.staff.name, world.staff.id_number, "", "育婴员", "2024-05-01", "否"])
    result = run(world, xlsx(rows))
    assert result.ok, [(e.row, e.column, e.message) for e in result.errors]
    assert (result.persons_created, result.persons_linked, result.employments) == (6, 1, 8)
    db.session.commit()
    assert counts()[:2] == (before[0] + 6, before[1] + 8)
    assert [post for post, _batch in _employments(pid(2))] == ["infant_carer", "nursery_carer"]
    assert {batch for _post, batch in _employments(pid(2))} == {result.batch_id}
    people = set(db.session.scalars(select(Person.id).where(
        Person.id_number.in_([pid(n) for n in range(1, 7)]))))
    assert len(people) == 6
    # every person of every chunk is marked for the compliance refresh, with the one linked
    assert _marked() == people | {world.staff.id}


def test_an_error_in_the_last_chunk_undoes_the_chunks_written_before(world):
    db.session.execute(ComplianceDirty.__table__.delete())
    db.session.commit()
    before = counts()
    rows = [person_row(n) for n in range(1, 8)]
    rows[6][4] = "2024-02-30"  # row 8, the last chunk: the chunks before it were written
    result = run(world, xlsx(rows))
    assert [(e.row, e.column) for e in result.errors] == [(8, "start_date")]
    assert result.batch_id is None and not result.ok
    # the transaction goes on (a savepoint was undone, not the caller's transaction)
    db.session.commit()
    assert counts() == before
    assert _marked() == set()
    assert db.session.scalar(select(func.count()).select_from(Person).where(
        Person.id_number == pid(1))) == 0
    # the corrected file imports
    rows[6][4] = "2024-02-28"
    result = run(world, xlsx(rows))
    assert result.ok and result.persons_created == 7
    db.session.commit()
    assert counts()[:2] == (before[0] + 7, before[1] + 7)


def _ids_drawn() -> int | None:
    """How far the persons' id sequence has gone (PostgreSQL)."""
    if not _postgresql():
        return None
    name = db.session.scalar(select(func.pg_get_serial_sequence("persons", "id")))
    return db.session.scalar(text(f"SELECT last_value FROM {name}"))  # noqa: S608


def test_every_error_is_listed_though_writing_stopped_at_the_first(world):
    before, drawn = counts(), _ids_drawn()
    rows = [person_row(n) for n in range(1, 10)]
    rows[1][3] = "园长助理"  # row 3, the second chunk: an unknown post
    rows[5] = person_row(6, manager="也许")  # row 7, a later chunk
    rows[8] = [pname(1) + "某", pid(1), "", "育婴员", "2024-03-01", "否"]  # row 10, the last
    result = run(world, xlsx(rows))
    assert [(e.row, e.column) for e in result.errors] == [
        (3, "post"), (7, "direct_manager"), (10, "name")]
    db.session.commit()
    assert counts() == before
    if drawn is not None:  # ids were drawn for the first chunk's one person only, not after
        assert _ids_drawn() <= drawn + 1


def test_a_person_registered_meanwhile_fails_the_write_and_leaves_nothing(world, monkeypatch):
    """Another transaction commits one of the roster's people after the import checked them
    and before it wrote them: the unique identity number refuses the write; nothing of the
    import stays, and another attempt links that person."""
    if not _postgresql():
        assert db.engine.dialect.name == "sqlite"  # one writer, which checks, then stores
        return
    before = counts()
    learn = roster._learn
    calls = []
    which = {pid(n): n for n in range(1, 6)}

    def learn_then_race(session, org_id, numbers, mobiles, today, **kw):
        learnt = learn(session, org_id, numbers, mobiles, today, **kw)
        calls.append(numbers)
        if len(calls) == 2:  # the second chunk, checked: its first person appears elsewhere
            n = which[numbers[0]]
            with db.engine.begin() as other:
                now = utcnow()
                other.execute(insert(Person.__table__).values(
                    **id_number_row(pid(n)), name=pname(n), gender="female",
                    birth_date=date(1975, 1 + n % 9, 15), created_at=now, updated_at=now))
        return learnt

    monkeypatch.setattr(roster, "_learn", learn_then_race)
    rows = [person_row(n) for n in range(1, 6)]
    # written by the pipeline's thread: its INSERT meets the committed person
    with pytest.raises(Exception, match="duplicate key"):
        run(world, xlsx(rows))
    db.session.rollback()
    assert counts()[:2] == (before[0] + 1, before[1])
    monkeypatch.setattr(roster, "_learn", learn)
    result = run(world, xlsx(rows))
    assert result.ok and (result.persons_created, result.persons_linked) == (4, 1)
    db.session.commit()
    assert counts()[:2] == (before[0] + 5, before[1] + 5)


@pytest.mark.parametrize("chunk", [1, 2, 4, 9, 10_000])
@pytest.mark.parametrize("total", [1, 2, 3, 7, 8, 9, 10_000, 100_000, 100_001])
def test_the_chunks_cover_every_row_once_and_end_small(monkeypatch, chunk, total):
    monkeypatch.setattr(roster, "CHUNK_ROWS", chunk)
    bounds = roster._chunk_bounds(total)
    assert bounds[0][0] == 0 and bounds[-1][1] == total
    assert all(end == start for (_s, end), (start, _e) in zip(bounds, bounds[1:], strict=False))
    assert all(0 < end - start <= chunk for start, end in bounds)
    # a small first chunk (written soon) and little left to write after the last
    assert bounds[0][1] - bounds[0][0] <= max(1, chunk // 4)
    assert bounds[-1][1] - bounds[-1][0] <= max(1, chunk // 4)
