"""Who directly manages each employment, dated (issue 15): recording, changing (the history
stays), nobody, who may record it and what is refused; the staff page's form."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from lms.core.actors import DEMO
from lms.core.clock import local_today
from lms.core.errors import DomainError, PermissionDenied
from lms.core.models import AuditLog
from lms.extensions import db
from lms.registry import service
from lms.registry.models import Employment, EmploymentManager
from tests.factories import id_number

EN = {"Accept-Language": "en"}


def hire(world, org, name, seq, post="nursery_carer", start=date(2020, 1, 1)) -> Employment:
    return service.add_staff(DEMO, org, id_number=id_number("320102", "19820101", seq), name=name,
                             post=post, start_date=start).employment


def carer(world) -> Employment:
    return db.session.scalar(select(Employment).where(Employment.person_id == world.staff.id))


def rows() -> int:
    return db.session.scalar(select(func.count(EmploymentManager.id)))


def test_set_change_and_the_history_stays(world):
    admin = world.users["inst_admin"]
    first = hire(world, world.inst, "赵组长", 11)
    second = hire(world, world.inst, "钱组长", 12)
    employment = carer(world)
    earlier, later = local_today() - timedelta(days=20), local_today() - timedelta(days=5)
    service.set_direct_manager(admin, employment, first, earlier)
    service.set_direct_manager(admin, employment, second, later)
    db.session.commit()
    assert service.direct_manager_on(employment, earlier - timedelta(days=1)) is None
    assert service.direct_manager_on(employment, earlier) == first
    assert service.direct_manager_on(employment, later - timedelta(days=1)) == first
    assert service.direct_manager_on(employment, later) == second
    assert service.direct_manager_on(employment, local_today()) == second
    assert rows() == 2
    logged = db.session.scalar(select(func.count(AuditLog.id)).where(
        AuditLog.action == "registry.direct_manager_set"))
    assert logged == 2


def test_nobody_from_a_day_on(world):
    admin = world.users["inst_admin"]
    lead = hire(world, world.inst, "赵组长", 11)
    employment = carer(world)
    since, until = local_today() - timedelta(days=10), local_today() - timedelta(days=2)
    service.set_direct_manager(admin, employment, lead, since)
    assert service.set_direct_manager(admin, employment, None, until) is None
    db.session.commit()
    assert service.direct_manager_on(employment, until - timedelta(days=1)) == lead
    assert service.direct_manager_on(employment, until) is None
    assert service.direct_manager_on(employment, local_today()) is None


def test_a_manager_who_left_manages_nobody_after(world):
    admin = world.users["inst_admin"]
    lead = hire(world, world.inst, "赵组长", 11)
    employment = carer(world)
    service.set_direct_manager(admin, employment, lead, local_today() - timedelta(days=10))
    service.end_employment(admin, lead, local_today() - timedelta(days=4), "离职")
    db.session.commit()
    assert service.direct_manager_on(employment, local_today() - timedelta(days=4)) == lead
    assert service.direct_manager_on(employment, local_today() - timedelta(days=3)) is None


def test_another_institutions_admin_is_refused(world):
    lead = hire(world, world.inst, "赵组长", 11)
    db.session.commit()
    for who in ("inst_admin_other", "regulator", "caregiver"):
        with pytest.raises(PermissionDenied):
            service.set_direct_manager(world.users[who], carer(world), lead, local_today())
    assert rows() == 0


@pytest.mark.parametrize("case, field", [
    ("other_institution", "manager"), ("same_person", "manager"), ("future", "from_date"),
    ("before_start", "from_date"), ("manager_left", "manager"), ("before_manager_started", "from_date"),
])
def test_refused_and_nothing_saved(world, case, field):
    admin = world.users["inst_admin"]
    employment = carer(world)
    manager, day = hire(world, world.inst, "赵组长", 11), local_today()
    if case == "other_institution":
        manager = hire(world, world.inst_other, "孙园长", 12, post="director")
    elif case == "same_person":
        manager = service.add_staff(DEMO, world.inst, id_number=world.staff.id_number,
                                    name=world.staff.name, post="director",
                                    start_date=date(2024, 3, 1)).employment
    elif case == "future":
        day = local_today() + timedelta(days=1)
    elif case == "before_start":
        day = employment.start_date - timedelta(days=1)
    elif case == "manager_left":
        service.end_employment(admin, manager, local_today() - timedelta(days=1), "离职")
    elif case == "before_manager_started":
        manager = hire(world, world.inst, "钱组长", 12, start=local_today() - timedelta(days=2))
        day = local_today() - timedelta(days=3)
    db.session.commit()
    with pytest.raises(DomainError) as refused:
        service.set_direct_manager(admin, employment, manager, day)
    assert refused.value.field == field
    db.session.rollback()
    assert rows() == 0


def test_a_change_cannot_start_before_the_current_record(world):
    admin = world.users["inst_admin"]
    first, second = hire(world, world.inst, "赵组长", 11), hire(world, world.inst, "钱组长", 12)
    employment = carer(world)
    service.set_direct_manager(admin, employment, first, local_today() - timedelta(days=5))
    db.session.commit()
    with pytest.raises(DomainError):
        service.set_direct_manager(admin, employment, second, local_today() - timedelta(days=6))
    with pytest.raises(DomainError):  # the same manager again: nothing to record
        service.set_direct_manager(admin, employment, first, local_today())
    db.session.rollback()
    assert rows() == 1 and service.direct_manager_on(employment, local_today()) == first


def test_the_staff_page_form(world, client, login_as):
    lead = hire(world, world.inst, "赵组长", 11)
    hire(world, world.inst_other, "孙园长", 12, post="director")
    db.session.commit()
    employment = carer(world)
    login_as("inst_admin")
    url = f"/institutions/{world.inst.id}/staff/{world.staff.id}"
    page = client.get(url, headers=EN).text
    assert f'id="direct-manager-{employment.id}">Direct manager: none recorded' in page
    form = page.split(f'id="manager-form-{employment.id}"')[1].split("</form>")[0]
    assert f'<label class="form-label small" for="manager_{employment.id}"' in form
    assert f'value="{lead.id}"' in form and "赵组长" in form
    assert "孙园长" not in form and world.staff.name not in form  # other institutions, oneself
    assert f'value="{local_today().isoformat()}"' in form

    since = local_today() - timedelta(days=7)
    done = client.post(f"/institutions/{world.inst.id}/employments/{employment.id}/direct-manager",
                       data={"manager": str(lead.id), "from_date": since.isoformat()}, headers=EN,
                       follow_redirects=True)
    assert "The direct manager is recorded." in done.text
    assert f'id="direct-manager-{employment.id}">Direct manager: 赵组长 (since' in done.text
    assert service.direct_manager_on(employment, since) == lead

    refused = client.post(f"/institutions/{world.inst.id}/employments/{employment.id}/direct-manager",
                          data={"manager": "0", "from_date": (local_today() + timedelta(days=1)).isoformat()},
                          headers=EN, follow_redirects=True)
    assert "The date cannot be in the future." in refused.text
    assert service.direct_manager_on(employment, local_today()) == lead


def test_the_page_form_is_refused_to_another_institution(world, client, login_as):
    lead = hire(world, world.inst, "赵组长", 11)
    db.session.commit()
    employment = carer(world)
    login_as("inst_admin_other")
    response = client.post(f"/institutions/{world.inst.id}/employments/{employment.id}/direct-manager",
                           data={"manager": str(lead.id), "from_date": local_today().isoformat()})
    assert response.status_code == 403
    assert rows() == 0
