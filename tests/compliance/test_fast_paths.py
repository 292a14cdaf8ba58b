"""The faster paths give the answers of the rules: the institution table writes its messages
only for the rows it shows, the rules' settings are read in one query, expiring certificates
come from the valid ones already read."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from lms.compliance import service
from lms.compliance.service import GapCode
from lms.core import settings
from lms.core.actors import DEMO
from lms.core.clock import local_today
from tests.compliance.conftest import make_compliant, reference_gaps, staff_record


def _gaps(pc):
    return [(g.code, g.severity, g.message) for g in pc.gaps]


def test_the_institution_table_writes_the_rules_messages_for_the_rows_it_shows(every_gap):
    want = reference_gaps(every_gap)
    met = {code for gaps in want.values() for code, _s, _m in gaps}
    assert met == set(GapCode.ALL)  # every gap kind and the warning are compared
    everyone = service.institution_table(DEMO, every_gap, per_page=None)
    assert {pc.person.id: _gaps(pc) for pc in everyone.rows} == want
    for sort, descending in (("name", False), ("gaps", True), ("gaps", False)):
        pages = service.institution_table(DEMO, every_gap, per_page=2, sort=sort,
                                          descending=descending).pages
        seen = []
        for page in range(1, pages + 1):
            table = service.institution_table(DEMO, every_gap, per_page=2, page=page, sort=sort,
                                              descending=descending)
            assert table.total == len(want) and len(table.rows) <= 2
            for pc in table.rows:
                assert _gaps(pc) == want[pc.person.id] and all(g.message for g in pc.gaps)
            seen += [pc.person.id for pc in table.rows]
        assert sorted(seen) == sorted(want)  # each person on exactly one page
    # a filter on a gap keeps the same people as the rules' codes say
    for code in GapCode.ALL:
        table = service.institution_table(DEMO, every_gap, gap=code, per_page=None)
        assert {pc.person.id for pc in table.rows} == \
            {pid for pid, gaps in want.items() if code in [c for c, _s, _m in gaps]}


def test_the_institution_export_holds_every_message(every_gap):
    from io import BytesIO

    from openpyxl import load_workbook

    data, rows, _totals = service.export_xlsx(DEMO, "institution", every_gap)
    sheet = load_workbook(BytesIO(data)).active
    cells = [[c.value for c in row] for row in sheet.iter_rows(min_row=2, max_row=rows + 1)]
    want = reference_gaps(every_gap)
    assert sorted(row[-1] or "" for row in cells) == \
        sorted("; ".join(m for _c, _s, m in gaps) for gaps in want.values())


def test_the_rules_settings_read_at_once_answer_as_get_setting(world):
    on = local_today()
    settings.set_setting(DEMO, "hours.skills_required", 80, date(2020, 1, 1))
    settings.set_setting(DEMO, "hours.skills_required", 90, date(2020, 1, 1),
                         district_id=world.xuanwu.id)
    settings.set_setting(DEMO, "hours.skills_required", 95, on + timedelta(days=1),
                         district_id=world.xuanwu.id)  # not yet in force
    settings.set_setting(DEMO, "registry.health_check_valid_months", 6, date(2021, 1, 1),
                         district_id=world.gulou.id)
    settings.set_setting(DEMO, "compliance.full_time_only.finance", "yes", date(2022, 1, 1))
    view = settings.SettingsOn(service.RULE_SETTING_PREFIXES, on)
    keys = ["hours.skills_required", "hours.ethics_required", "registry.health_check_valid_months",
            "compliance.full_time_only.finance", "compliance.full_time_only.nursery_carer",
            "compliance.expiry_warning_days"]
    for key in keys:
        for district_id in (None, world.xuanwu.id, world.gulou.id):
            assert view.get(key, district_id) == settings.get_setting(key, district_id, on), key
    assert view.get("hours.skills_required", world.xuanwu.id) == 90
    with pytest.raises(ValueError):
        view.get("certification.target_percent", None)  # not among the prefixes read


def test_a_stale_answer_is_never_served(world, check):
    """Nothing is kept between calls: a record written after an answer changes the next one."""
    make_compliant(world.staff, world.inst)
    assert check(world.staff).is_compliant
    staff_record(world.staff, issued_on=local_today(), result="unfit", org=world.inst)
    assert check(world.staff).gap_codes == [GapCode.HEALTH_UNFIT]
    settings.set_setting(DEMO, "hours.ethics_required", 400, date(2020, 1, 1))
    assert GapCode.ETHICS_BEHIND in check(world.staff).gap_codes


def test_the_targets_read_at_once_answer_as_get_setting(world):
    on = local_today()
    settings.set_setting(DEMO, "compliance.health_target_percent", 90, date(2020, 1, 1))
    settings.set_setting(DEMO, "compliance.health_target_percent", 80, date(2021, 1, 1),
                         district_id=world.xuanwu.id)
    settings.set_setting(DEMO, "compliance.health_target_percent", 70, on + timedelta(days=1),
                         district_id=world.xuanwu.id)  # not yet in force
    for district_id in (None, world.xuanwu.id, world.gulou.id):
        assert service.targets(district_id, on) == {
            name: float(settings.get_setting(key, district_id, on))
            for name, key in service.TARGET_SETTINGS.items()}
    assert service.targets(world.xuanwu.id, on)["health_current"] == 80.0


def test_compliance_by_number_is_the_persons_answer_in_two_statements(every_gap, world):
    from tests.factories import id_number
    from tests.helpers import statements_sent

    people = [pc.person for pc in service.staff_compliance(DEMO, every_gap)]
    for person in people:
        by_number = service.compliance_by_number(service.CITY, person.id_number)
        pc = service.person_compliance(DEMO, person)
        assert by_number.person.id == person.id
        assert [(p.employment.id, p.certified) for p in by_number.posts] == \
            [(p.employment.id, p.certified) for p in pc.posts]
        assert by_number.gaps == pc.gaps and by_number.ban == pc.ban
    assert service.compliance_by_number(service.CITY, id_number("110101", "19800101", 7)) is None
    assert service.compliance_by_number(service.CITY, "12345") is None  # not a number at all
    # typed as people type it: the registry's normalisation (lower-case x, spaces)
    assert service.compliance_by_number(service.CITY, f" {people[0].id_number.lower()} ")
    # a district that does not employ the person: the same "no answer" as an unknown number
    elsewhere = service.Scope("district", district_id=world.gulou.id)
    assert world.inst.district_id != world.gulou.id
    only_here = next(p for p in people if p.name == "戊新")
    assert service.compliance_by_number(elsewhere, only_here.id_number) is None
    service.compliance_by_number(service.CITY, only_here.id_number)  # the reference cache warm
    with statements_sent() as sent:
        service.compliance_by_number(service.CITY, only_here.id_number)
    assert len(sent) == 2  # the person read with their rows: no lookup before
