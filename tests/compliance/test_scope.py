"""Who sees whose compliance: the city all, a district its people now and its institutions'
history (not a leaver's new work elsewhere), an institution its current staff, nobody else."""

from __future__ import annotations

from datetime import date

import pytest

from lms.compliance import service
from lms.core.actors import DEMO
from lms.core.errors import PermissionDenied
from lms.registry import service as registry
from tests.factories import id_number


def _leaver(world):
    """A person who worked at world.inst (玄武区) and now works at world.inst_other (鼓楼区)."""
    added = registry.add_staff(DEMO, world.inst, id_number=id_number("320102", "19850505", 7),
                               name="王离职", post="nursery_carer", start_date=date(2023, 1, 1))
    registry.end_employment(DEMO, added.employment, date(2025, 6, 30), "辞职")
    registry.add_staff(DEMO, world.inst_other, id_number=added.employment.person.id_number,
                       name="王离职", post="infant_carer", start_date=date(2025, 7, 1))
    return added.employment.person


def test_scope_for_each_role(world):
    u = world.users
    assert service.scope_for(u["regulator_city"]).kind == "city"
    assert service.scope_for(u["admin"]).kind == "city"
    assert service.scope_for(u["regulator"]) == service.Scope("district", district_id=world.xuanwu.id)
    assert service.scope_for(u["inst_admin"]) == service.Scope("institution",
                                                               organisation_id=world.inst.id)
    for role in ("caregiver", "base_staff", "hr_reviewer"):
        with pytest.raises(PermissionDenied):
            service.scope_for(u[role])


def test_a_district_regulator_does_not_see_a_leavers_new_employment(world):
    person = _leaver(world)
    mine = service.person_compliance(world.users["regulator"], person)
    assert mine.posts == []  # the history is the registry's; no current post in this district
    theirs = service.person_compliance(world.users["regulator_other"], person)
    assert [p.employment.organisation_id for p in theirs.posts] == [world.inst_other.id]
    city = service.person_compliance(world.users["regulator_city"], person)
    assert [p.employment.organisation_id for p in city.posts] == [world.inst_other.id]


def test_the_registry_person_page_hides_a_leavers_new_employment(world, client, login_as):
    person = _leaver(world)
    db_names = {e.organisation.name for e in registry.employments_seen_by(world.users["regulator"],
                                                                          person)}
    assert db_names == {world.inst.name}
    assert {e.organisation.name for e in registry.employments_seen_by(
        world.users["regulator_city"], person)} == {world.inst.name, world.inst_other.name}
    from lms.extensions import db
    db.session.commit()
    login_as("regulator")
    page = client.get(f"/registry/persons/{person.id}").get_data(as_text=True)
    assert world.inst.name in page and world.inst_other.name not in page


def test_a_district_sees_all_current_work_of_someone_working_there_now(world):
    registry.add_staff(DEMO, world.inst_other, id_number=world.staff.id_number,
                       name=world.staff.name, post="finance", start_date=date(2025, 1, 1))
    pc = service.person_compliance(world.users["regulator"], world.staff)
    assert {p.employment.organisation_id for p in pc.posts} == {world.inst.id, world.inst_other.id}


def test_a_district_regulator_cannot_see_a_person_never_in_the_district(world):
    with pytest.raises(PermissionDenied):
        service.person_compliance(world.users["regulator"], world.staff_other)


def test_an_institution_sees_only_its_current_staff(world):
    admin = world.users["inst_admin"]
    assert service.person_compliance(admin, world.staff).posts[0].employment.organisation_id \
        == world.inst.id
    with pytest.raises(PermissionDenied):
        service.person_compliance(admin, world.staff_other)
    registry.end_employment(DEMO, world.staff.employments[0], date(2025, 1, 1), "辞职")
    with pytest.raises(PermissionDenied):
        service.person_compliance(admin, world.staff)
    # the batch form leaves out whoever is not in scope
    assert service.compliance_for(admin, [world.staff, world.staff_other]) == {}


def test_a_caregiver_is_refused(world):
    with pytest.raises(PermissionDenied):
        service.person_compliance(world.users["caregiver"], world.staff)
    with pytest.raises(PermissionDenied):
        service.compliance_for(world.users["caregiver"], [world.staff])


def test_the_institution_list_is_its_own_posts(world):
    registry.add_staff(DEMO, world.inst_other, id_number=world.staff.id_number,
                       name=world.staff.name, post="finance", start_date=date(2025, 1, 1))
    rows = service.staff_compliance(world.users["regulator_city"], world.inst)
    assert [r.person.id for r in rows] == [world.staff.id]
    assert [p.employment.organisation_id for p in rows[0].posts] == [world.inst.id]
    with pytest.raises(PermissionDenied):
        service.staff_compliance(world.users["inst_admin_other"], world.inst)
