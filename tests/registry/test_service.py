"""Registry rules: one person per identity number, employments, post rules, the ban gate."""

import io
from datetime import date, timedelta

import pytest
from PIL import Image
from sqlalchemy import func, select

from lms.auth.models import User
from lms.core.actors import DEMO
from lms.core.clock import local_today
from lms.core.errors import DomainError, PermissionDenied
from lms.core.models import AuditLog
from lms.extensions import db
from lms.registry import service
from lms.registry.models import Employment, Person, PersonPhoto, QualificationType
from tests.factories import credit_code, id_number
from tests.helpers import statements_sent


def add(world, number, name="李静", post="nursery_carer", org=None, **kw):
    return service.add_staff(world.users["inst_admin"], org or world.inst, id_number=number,
                             name=name, post=post, start_date=kw.pop("start", date(2025, 1, 1)),
                             **kw)


def test_one_person_per_identity_number_whatever_the_typing(world):
    number = id_number("320104", "19920101", 4)
    first = add(world, number)
    typed = "\u200b" + number[:6] + " " + number[6:].lower()
    second = add(world, typed, post="infant_carer")
    assert first.person_created and not second.person_created
    assert first.employment.person_id == second.employment.person_id
    assert db.session.scalar(select(func.count(Person.id)).where(Person.id_number == number)) == 1


def test_new_person_gets_gender_birth_date_and_account(world):
    number = id_number("320104", "19920101", 3)  # odd 17th digit: male
    added = add(world, number, name="王强", post="security", mobile="13700000001")
    person = added.employment.person
    assert person.gender == "male" and person.birth_date == date(1992, 1, 1)
    user = db.session.scalar(select(User).where(User.person_id == person.id))
    assert user.role == "caregiver" and user.must_change_password
    assert added.initial_password and len(added.initial_password) == 10


def test_linking_keeps_the_existing_account(world):
    added = add(world, world.staff.id_number, name=world.staff.name, post="infant_carer")
    assert added.initial_password is None


def test_same_number_under_another_name_is_refused(world):
    with pytest.raises(DomainError, match="registered under a different name"):
        add(world, world.staff.id_number, name="张小文", post="infant_carer")


def test_same_post_twice_is_refused(world):
    with pytest.raises(DomainError, match="already holds this post"):
        add(world, world.staff.id_number, name=world.staff.name)


def test_mobile_cannot_belong_to_two_people(world):
    with pytest.raises(DomainError, match="belongs to another person"):
        add(world, id_number("320104", "19920101", 6), mobile="13912345678")


def test_under_sixteen_is_refused(world):
    young = id_number("320102", f"{local_today().year - 15}0101", 8)
    with pytest.raises(DomainError, match="under 16"):
        add(world, young, start=local_today())


def test_only_institutions_register_staff(world):
    with pytest.raises(PermissionDenied):  # the institution admin does not manage a base
        add(world, id_number("320104", "19920101", 8), org=world.base)
    with pytest.raises(DomainError, match="childcare institutions only"):
        service.add_staff(DEMO, world.base, id_number=id_number("320104", "19920101", 8),
                          name="李静", post="nursery_carer", start_date=date(2025, 1, 1))


def test_direct_manager_is_part_of_the_record(world):
    director = add(world, id_number("320104", "19800101", 8), name="赵敏", post="director")
    assert director.employment.is_direct_manager
    carer = add(world, id_number("320104", "19800101", 6), name="钱芳", is_direct_manager=True)
    assert carer.employment.is_direct_manager


def test_end_employment_keeps_history(world):
    employment = world.staff.employments[0]
    with pytest.raises(DomainError, match="before the start date"):
        service.end_employment(world.users["inst_admin"], employment, date(2020, 1, 1), "离职")
    with pytest.raises(DomainError, match="reason"):
        service.end_employment(world.users["inst_admin"], employment, local_today(), " ")
    service.end_employment(world.users["inst_admin"], employment, local_today(), "离职")
    with pytest.raises(DomainError, match="already ended"):
        service.end_employment(world.users["inst_admin"], employment, local_today(), "again")
    # the same post can be taken up again, and the old row stays
    add(world, world.staff.id_number, name=world.staff.name, start=local_today())
    rows = db.session.scalars(select(Employment).where(Employment.person_id == world.staff.id))
    assert len(list(rows)) == 2


# --- the ban gate --------------------------------------------------------------------------


def ban(world, number, kind="lifetime", **kw):
    return service.record_ban(DEMO, id_number=number, name=kw.pop("name", "某某"), kind=kind,
                              starts_on=kw.pop("starts_on", date(2025, 1, 1)),
                              ends_on=kw.pop("ends_on", None), reason="虐待婴幼儿", **kw)


def test_a_ban_can_precede_the_registry_record(world):
    number = id_number("320106", "19850612", 4)
    ban(world, number, name="孙某")
    assert number in service.ban_gate([number])
    with pytest.raises(service.BannedError, match="banned from working in childcare for life"):
        add(world, number.lower(), name="孙某")
    assert service.find_person(number) is None  # nothing half-saved


def test_a_ban_holds_across_organisations(world):
    ban(world, world.staff.id_number, name=world.staff.name)
    with pytest.raises(service.BannedError):
        service.add_staff(world.users["inst_admin_other"], world.inst_other,
                          id_number=world.staff.id_number, name=world.staff.name,
                          post="nursery_carer", start_date=date(2025, 1, 1))


def test_a_lifetime_ban_never_expires(world):
    number = id_number("320106", "19850612", 6)
    ban(world, number)
    assert number in service.ban_gate([number], on=date(2099, 12, 31))


def test_a_term_ban_ends(world):
    number = id_number("320106", "19850612", 8)
    ban(world, number, kind="term", starts_on=date(2025, 1, 1), ends_on=date(2027, 1, 1))
    assert number in service.ban_gate([number], on=date(2026, 12, 31))
    assert number not in service.ban_gate([number], on=date(2027, 1, 1))
    assert number not in service.ban_gate([number], on=date(2024, 12, 31))


def test_ban_validation(world):
    with pytest.raises(DomainError, match="end date after its start"):
        ban(world, id_number("320106", "19850612", 2), kind="term", ends_on=date(2024, 1, 1))
    good = id_number("320106", "19850612", 2)
    with pytest.raises(DomainError, match="check character"):
        ban(world, good[:-1] + ("1" if good[-1] != "1" else "2"))


def test_ban_recorded_in_audit(world):
    ban(world, id_number("320106", "19850612", 2))
    entry = db.session.scalar(select(AuditLog).where(AuditLog.action == "registry.ban_recorded"))
    assert entry is not None and "*" in entry.details["id_number"]


# --- post requirements -----------------------------------------------------------------------


def qtype(code):
    return db.session.scalar(select(QualificationType).where(QualificationType.code == code))


def test_does_this_person_satisfy_this_post(world):
    person = world.staff
    assert not service.satisfies_post(person, "nursery_carer").satisfied
    assert service.satisfies_post(person, "finance").satisfied  # no certificate needed
    service.add_qualification(DEMO, person, qtype("baoyushi"), issued_on=date(2024, 1, 1),
                              level=5)
    assert service.satisfies_post(person, "nursery_carer").satisfied  # any level
    assert not service.satisfies_post(person, "infant_carer").satisfied
    assert not service.satisfies_post(person, "security").satisfied


def test_expired_and_revoked_qualifications_do_not_count(world):
    person = world.staff
    q = service.add_qualification(DEMO, person, qtype("baoyushi"), issued_on=date(2020, 1, 1),
                                  level=4, expires_on=local_today() - timedelta(days=1))
    assert not service.satisfies_post(person, "nursery_carer").satisfied
    q.expires_on = None
    assert service.satisfies_post(person, "nursery_carer").satisfied
    q.revoked_at = q.created_at
    assert not service.satisfies_post(person, "nursery_carer").satisfied


def test_rules_are_data_an_admin_edits(world):
    admin = world.users["admin"]
    person = world.staff
    service.add_qualification(DEMO, person, qtype("baoyushi"), issued_on=date(2024, 1, 1),
                              level=4)
    rule = service.add_post_requirement(admin, "finance", qtype("baoyushi"), 3)
    assert not service.satisfies_post(person, "finance").satisfied  # level 4 < required 3
    service.remove_post_requirement(admin, rule)
    assert service.satisfies_post(person, "finance").satisfied
    with pytest.raises(DomainError, match="already satisfies"):
        service.add_post_requirement(admin, "nursery_carer", qtype("baoyushi"), None)
    with pytest.raises(DomainError, match="no levels"):
        service.add_post_requirement(admin, "finance", qtype("baoan"), 3)


def test_check_posts_is_batched(world):
    employments = list(db.session.scalars(select(Employment)))
    with statements_sent() as statements:
        checks = service.check_posts(employments)
    assert set(checks) == {e.id for e in employments}
    assert len(statements) <= 2


# --- organisations and photos ------------------------------------------------------------------


def test_organisation_codes_are_validated_and_unique(world):
    with pytest.raises(DomainError, match="check character"):
        service.create_organisation(DEMO, kind="institution", name="X", district=world.xuanwu,
                                    credit_code=credit_code(1)[:-1] + "0")
    with pytest.raises(DomainError, match="already registered"):
        service.create_organisation(DEMO, kind="institution", name="X", district=world.xuanwu,
                                    credit_code=credit_code(1).lower())
    with pytest.raises(DomainError, match="Enter the unified social credit code"):
        service.create_organisation(DEMO, kind="institution", name="X", district=world.xuanwu)


def image_bytes(fmt="PNG", size=(300, 400)):
    out = io.BytesIO()
    Image.new("RGB", size, (200, 100, 50)).save(out, fmt)
    return out.getvalue()


def test_photo_is_checked_by_content_and_reencoded(world):
    person = world.staff
    png = image_bytes("PNG") + b"<script>alert(1)</script>"
    photo = service.set_photo(DEMO, person, png)
    assert photo.data[:3] == b"\xff\xd8\xff" and b"<script>" not in photo.data
    assert max(photo.width, photo.height) <= 600
    with pytest.raises(DomainError, match="JPEG or PNG"):
        service.set_photo(DEMO, person, image_bytes("GIF"))
    with pytest.raises(DomainError, match="readable"):
        service.set_photo(DEMO, person, b"GIF89a not an image at all")
    with pytest.raises(DomainError, match="2 MB"):
        service.set_photo(DEMO, person, b"\xff\xd8" + b"0" * (2 * 1024 * 1024))
    with pytest.raises(DomainError, match="pixels"):
        service.set_photo(DEMO, person, image_bytes("PNG", (50, 50)))
    with pytest.raises(DomainError, match="pixels"):
        service.set_photo(DEMO, person, image_bytes("PNG", (8000, 120)))
    assert db.session.get(PersonPhoto, person.id) is not None


def test_viewing_a_full_identity_number_is_logged(world):
    assert service.reveal_id_number(world.users["inst_admin"], world.staff) == world.staff.id_number
    entry = db.session.scalar(select(AuditLog).where(AuditLog.action == "registry.id_number_viewed"))
    assert entry.actor_id == world.users["inst_admin"].id and entry.object_id == str(world.staff.id)
