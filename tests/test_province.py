"""The synthetic province: valid, consistent data, loaded in bulk (COPY on PostgreSQL)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from lms.core.idnumber import is_valid_id_number
from lms.extensions import db
from lms.ledger import service as ledger
from lms.ledger.models import LedgerEntry
from lms.province import LEDGER_ENTRIES_PER_PERSON, ProvinceExists, Size, generate, id_number_of
from lms.registry.models import Ban, Employment, Organisation, Person, StaffRecord
from lms.registry.service import ban_gate, ensure_reference_data

SIZE = Size(persons=600, institutions=30, districts=3, bans=8)


@pytest.fixture()
def province():
    ensure_reference_data()
    built = generate(SIZE)
    db.session.commit()
    return built


def test_the_province_is_whole_and_valid(province):
    assert db.session.scalar(select(func.count(Person.id))) == SIZE.persons
    numbers = list(db.session.scalars(select(Person.id_number)))
    assert all(is_valid_id_number(n) for n in numbers)  # every row passes the registry's rule
    assert len(set(numbers)) == len(numbers)
    institutions = db.session.scalar(select(func.count(Organisation.id)))
    assert institutions == SIZE.institutions
    employments = db.session.scalar(select(func.count(Employment.id)))
    assert 1.1 * SIZE.persons < employments < 1.3 * SIZE.persons  # about 1.2 a person
    # every institution has its director, and a few people are filed at two institutions now
    current = select(Employment.person_id).where(Employment.end_date.is_(None)).group_by(
        Employment.person_id).having(func.count(Employment.id) > 1)
    assert 0 < len(db.session.scalars(current).all()) < SIZE.persons // 50
    assert db.session.scalar(select(func.count(LedgerEntry.id))) == (
        SIZE.persons * LEDGER_ENTRIES_PER_PERSON) == province.ledger_entries
    assert ledger.verify() == []  # the yearly totals equal the entries
    assert db.session.scalar(select(func.count(StaffRecord.id))) == province.staff_records > 0


def test_some_banned_people_are_still_employed_for_the_regulator_to_find(province):
    assert db.session.scalar(select(func.count(Ban.id))) == SIZE.bans
    employed = list(db.session.scalars(select(Person.id_number).join(Employment).where(
        Employment.end_date.is_(None))))
    assert ban_gate(employed)  # the one gate sees them


def test_a_second_run_is_refused_not_half_written(province):
    with pytest.raises(ProvinceExists):
        generate(SIZE)
    db.session.rollback()
    assert db.session.scalar(select(func.count(Person.id))) == SIZE.persons
    assert id_number_of(0) in db.session.scalars(select(Person.id_number)).all()


def test_the_command_reports_what_it_built(app):
    result = CliRunner().invoke(app.cli, ["lms", "generate-province", "--persons", "50",
                                          "--institutions", "5", "--districts", "2", "--bans", "2"])
    assert result.exit_code == 0, result.output
    assert "persons=50" in result.output and "ledger_entries=1,500" in result.output
    again = CliRunner().invoke(app.cli, ["lms", "generate-province", "--persons", "50",
                                         "--institutions", "5", "--districts", "2"])
    assert again.exit_code != 0 and "already" in again.output
