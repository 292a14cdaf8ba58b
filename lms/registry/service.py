"""The registry's rules: persons, organisations, employments, post requirements, bans."""

from __future__ import annotations

import functools
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

from flask_babel import lazy_gettext as _l
from PIL import Image, UnidentifiedImageError
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session, aliased, contains_eager

from lms.auth import service as auth_service
from lms.auth.models import Role, User
from lms.core import audit, refcache, security, settings
from lms.core.actors import is_system, system_actor
from lms.core.bulk import chunks, one_of
from lms.core.clock import local_today
from lms.core.enums import TitledEnum
from lms.core.errors import DomainError, PermissionDenied
from lms.core.idnumber import (
    IdNumberError,
    clean,
    id_facts,
    mask_id_number,
    mask_id_numbers_in,
    normalise_credit_code,
    normalise_id_number,
    normalise_mobile,
    normalise_name,
    parse_id_number,
)
from lms.core.models import District
from lms.core.permissions import authorize
from lms.core.states import InvalidTransition, StateMachine
from lms.core.uploads import document_type
from lms.extensions import db
from lms.registry import permissions as rules
from lms.registry.models import (
    AccountOrigin,
    Ban,
    BanCategory,
    BanKind,
    BanState,
    Employment,
    EmploymentAction,
    EmploymentManager,
    EmploymentState,
    HealthResult,
    Organisation,
    OrgKind,
    Person,
    PersonPhoto,
    Post,
    PostRequirement,
    Qualification,
    QualificationScan,
    QualificationType,
    StaffRecord,
    StaffRecordKind,
    StaffRecordScan,
)
from lms.registry.permissions import person_is_on_staff  # noqa: F401 - views and others use it

MAX_PHOTO_BYTES = 2 * 1024 * 1024
PHOTO_MIN_SIDE = 100
PHOTO_MAX_SIDE = 6000
PHOTO_STORED_SIDE = 600


class BannedError(DomainError):
    """The gate refused: the identity number is banned from the sector."""

    def __init__(self, ban: Ban):
        if ban.kind == BanKind.LIFETIME:
            message = _l("Refused: this identity number is banned from working in childcare for "
                         "life (since %(date)s).", date=ban.starts_on.isoformat())
        else:
            message = _l("Refused: this identity number is banned from working in childcare "
                         "until %(date)s.", date=ban.ends_on.isoformat())
        super().__init__(message, field="id_number")
        self.ban = ban


# --- the ban gate (DESIGN §5.3) -----------------------------------------------------------------


def ban_in_force(on: date, ban=Ban):
    """The gate's rule as SQL: the bans (`ban`: Ban or an alias of it) that hold on the date.
    Lifted and annulled bans no longer hold; an expired term ban is left to its dates; a
    lifetime ban never ends."""
    return and_(
        ban.state.in_((BanState.IN_FORCE.value, BanState.EXPIRED.value)), ban.starts_on <= on,
        or_(ban.kind == BanKind.LIFETIME.value, ban.ends_on > on),
    )


def bans_held_against(person, on: date, ban=Ban):
    """The gate's rule as a join criterion: the bans (`ban`: Ban or an alias) in force on the
    date against the number of `person` (Person or an alias), compared by keyed hash as the
    gate compares them. For a statement that reads a person's bans with other rows
    (compliance), which then keeps `gate_answer` of them."""
    return and_(ban.id_number_hash == person.id_number_hash, ban_in_force(on, ban))


def gate_answer(bans: Iterable[Ban]) -> Ban | None:
    """Of one number's bans in force, the one the gate answers: a lifetime ban first, then the
    term ban that ends last, then the first recorded (None: no ban)."""
    return min(bans, default=None,
               key=lambda b: (b.kind != BanKind.LIFETIME.value,
                              -b.ends_on.toordinal() if b.ends_on is not None else 0, b.id))


def ban_gate(id_numbers: Iterable[str], on: date | None = None, *,
             session=None) -> dict[str, Ban]:
    """THE gate: which of these (normalised) identity numbers are banned on the date.

    Every action that lets a person work or benefit asks this function, by identity
    number, so a ban holds across accounts and organisations. `session`: another session than
    the request's, for a bulk import that checks on one connection while it writes on another.
    """
    on = on or local_today()
    wanted = list(dict.fromkeys(id_numbers))
    held: dict[str, list[Ban]] = {}
    for chunk in chunks(wanted):
        for ban in (session or db.session).scalars(select(Ban).where(one_of(Ban.id_number, chunk),
                                                        ban_in_force(on))):
            held.setdefault(ban.id_number, []).append(ban)
    return {number: gate_answer(bans) for number, bans in held.items()}


def _user_or_none(actor):
    """The signed-in user an event counts against; system actors are nobody's account."""
    return None if is_system(actor) else actor


security.describe("registry.ban_gate_refused", _l("Refused by the ban gate"))
security.describe("registry.id_number_viewed", _l("Full identity number viewed"), refusal=False)
security.describe("registry.lookup", _l("Person looked up by identity number"), refusal=False)


def check_not_banned(id_number: str, on: date | None = None) -> None:
    """Raise BannedError when the gate refuses this identity number."""
    ban = ban_gate([id_number], on).get(id_number)
    if ban is not None:
        # a trace that outlives the refused request's rollback (never the number itself)
        security.record_event("registry.ban_gate_refused", detail={"ban_id": ban.id})
        raise BannedError(ban)


def is_banned(person: Person, on: date | None = None) -> bool:
    return person.id_number in ban_gate([person.id_number], on)


def record_ban(actor, *, id_number: str, name: str, kind: str, starts_on: date,
               ends_on: date | None, reason: str, decision_ref: str = "",
               category: str = BanCategory.OTHER.value, authority: str = "",
               decision_date: date | None = None, incident_date: date | None = None,
               district_id: int | None = None, linked_to: Ban | None = None) -> Ban:
    """Record a ban decision (the row the gate reads). The regulator's pages impose bans through
    enforcement.impose_ban, which adds the effects; the CLI records one directly."""
    authorize(actor, rules.can_record_ban)
    number = normalise_id_number(id_number)
    name = normalise_name(name)
    if kind not in {k.value for k in BanKind}:
        raise DomainError(_l("Choose a lifetime ban or a ban for a term."), field="kind")
    if category not in {c.value for c in BanCategory}:
        raise DomainError(_l("Choose the category of the ban."), field="category")
    if kind == BanKind.LIFETIME:
        ends_on = None
    elif ends_on is None or ends_on <= starts_on:
        raise DomainError(_l("A ban for a term needs an end date after its start."), field="ends_on")
    # the number is encrypted at rest; a decision quoted in full must not store it in clear
    reason = mask_id_numbers_in((reason or "").strip())
    if not reason:
        raise DomainError(_l("Give the reason for the ban."), field="reason")
    person = find_person(number)
    ban = Ban(id_number=number, person_id=person.id if person else None, name=name, kind=kind,
              category=category, state=BanState.IN_FORCE.value,
              starts_on=starts_on, ends_on=ends_on, reason=reason,
              decision_ref=(decision_ref or "").strip()[:100], decision_date=decision_date,
              authority=(authority or "").strip()[:120], incident_date=incident_date,
              district_id=district_id, linked_to_id=linked_to.id if linked_to else None,
              imposed_by_id=getattr(actor, "id", None))
    db.session.add(ban)
    db.session.flush()
    audit.record(actor, "registry.ban_recorded", ban, kind=kind, category=category,
                 id_number=mask_id_number(number))
    return ban


#: who carries out a ban's effects in the lower packages (their state machines' `may` knows
#: no regulator); each effect's service first authorises the regulator who imposed the ban
BAN_EFFECTS = system_actor("enforcement:ban")


def end_employments_for_ban(actor, person_id: int, end_date: date, reason: str) -> list[Employment]:
    """A ban ends the person's current employments at once, with the ban's reason."""
    authorize(actor, rules.can_apply_ban_effects)
    reason = (reason or "").strip()[:200]
    if not reason:
        raise DomainError(_l("Give the reason the employment ends."), field="reason")
    ended = []
    for employment in db.session.scalars(select(Employment).where(
            Employment.person_id == person_id, Employment.end_date.is_(None))
            .order_by(Employment.id)):
        last_day = max(end_date, employment.start_date)
        EMPLOYMENT.apply(BAN_EFFECTS, employment, EmploymentAction.END, reason=reason,
                         values={"end_date": last_day, "end_reason": reason},
                         end_date=last_day.isoformat(), ordered_by=getattr(actor, "id", None))
        ended.append(employment)
    return ended


def check_runs_base(actor, org: Organisation, not_a_base_message) -> None:
    """The work of a training base (sessions, exams) is done by its own staff, or a system
    administrator; `not_a_base_message` says what only a training base does."""
    if org.kind != OrgKind.TRAINING_BASE:
        raise DomainError(not_a_base_message)
    role = getattr(actor, "role", None)
    if role == Role.ADMIN:
        return
    if role != Role.BASE_STAFF or actor.organisation_id != org.id:
        raise PermissionDenied(_l("Only this training base's staff may do that."))


# --- persons --------------------------------------------------------------------------------


def lookup_number(id_number: str) -> str | None:
    """An identity number as the registry looks it up (normalised), or None when it cannot be
    one (nobody has it)."""
    try:
        return normalise_id_number(id_number)
    except IdNumberError:
        return None


def find_person(id_number: str) -> Person | None:
    """The registry record for an identity number (normalised first)."""
    number = lookup_number(id_number)
    if number is None:
        return None
    return db.session.scalar(select(Person).where(Person.id_number == number))


def get_or_create_person(actor, *, id_number: str, name: str, mobile=None) -> tuple[Person, bool]:
    """Link to the person with this identity number, or register a new one.

    A person already in the registry keeps their mobile number (their sign-in name) unless
    the acting institution is their only current employer: linking someone does not hand
    the new employer their account."""
    authorize(actor, rules.can_register_person)
    number = normalise_id_number(id_number)
    name = normalise_name(name)
    mobile = normalise_mobile(mobile)
    person = db.session.scalar(select(Person).where(Person.id_number == number))
    if person is not None:
        if person.name != name:
            # 人证合一: a number registered under another name is a typing error or a borrowed ID.
            raise DomainError(NAME_DIFFERS, field="name")
        if mobile and mobile != person.mobile and (
                person.mobile is None or controls_person(actor, person)):
            _ensure_mobile_free(mobile, person)
            person.mobile = mobile
        return person, False
    if mobile:
        _ensure_mobile_free(mobile, None)
    facts = id_facts(number)
    person = Person(id_number=number, name=name, mobile=mobile, gender=facts.gender,
                    birth_date=facts.birth_date)
    db.session.add(person)
    db.session.flush()
    audit.record(actor, "registry.person_created", person)
    return person, True


NAME_DIFFERS = _l("This identity number is registered under a different name. Check the number "
                  "and the name against the identity card.")


def current_employers(person_id: int) -> set[int]:
    """The organisations the person works at now."""
    return set(db.session.scalars(select(Employment.organisation_id).where(
        Employment.person_id == person_id, Employment.end_date.is_(None))))


def controls_person(actor, person: Person, org_id: int | None = None) -> bool:
    """Whether the actor may act for the person's account and contact details: a system
    actor or administrator, or the institution that is the person's only current employer
    (`org_id`: the institution acting, by default the actor's)."""
    if is_system(actor) or getattr(actor, "role", None) == Role.ADMIN:
        return True
    org_id = org_id if org_id is not None else getattr(actor, "organisation_id", None)
    return bool(org_id) and current_employers(person.id) <= {org_id}


def _ensure_mobile_free(mobile: str, person: Person | None) -> None:
    # The mobile number is a sign-in name, so two people cannot share it.
    other = db.session.scalar(select(Person.id).where(Person.mobile == mobile))
    if other is not None and (person is None or other != person.id):
        raise DomainError(_l("This mobile number belongs to another person in the registry."),
                          field="mobile")


def update_contact(actor, person: Person, mobile) -> None:
    """Change a person's mobile number (also their sign-in name)."""
    authorize(actor, rules.can_edit_person, person=person)
    if not controls_person(actor, person):
        raise PermissionDenied(_l("Only the person's only current employer or a system "
                                  "administrator may change their mobile number."))
    mobile = normalise_mobile(mobile)
    if mobile:
        _ensure_mobile_free(mobile, person)
    person.mobile = mobile
    audit.record(actor, "registry.person_updated", person, fields=["mobile"])


def reveal_id_number(actor, person: Person) -> str:
    """The full identity number, for a viewer who needs it; every viewing is logged."""
    authorize(actor, rules.can_reveal_id_number, person=person)
    audit.record(actor, "registry.id_number_viewed", person)
    security.record_event("registry.id_number_viewed", actor=_user_or_none(actor),
                          detail={"person_id": person.id})
    return person.id_number


def set_photo(actor, person: Person, data: bytes) -> PersonPhoto:
    """Store a JPEG or PNG photo, checked by content and re-encoded (never stored as sent)."""
    authorize(actor, rules.can_edit_person, person=person)
    jpeg, width, height = reencode_photo(data)
    photo = db.session.get(PersonPhoto, person.id)
    if photo is None:
        photo = PersonPhoto(person_id=person.id)
        db.session.add(photo)
    photo.data, photo.width, photo.height = jpeg, width, height
    audit.record(actor, "registry.photo_set", person)
    return photo


def reencode_photo(data: bytes, field: str = "photo") -> tuple[bytes, int, int]:
    """A JPEG or PNG photo checked by content and re-encoded as a JPEG without EXIF or anything
    appended: (bytes, width, height). Every photo the system keeps goes through here."""
    if not data:
        raise DomainError(_l("Choose a photo to upload."), field=field)
    if len(data) > MAX_PHOTO_BYTES:
        raise DomainError(_l("The photo is larger than 2 MB."), field=field)
    try:
        with Image.open(io.BytesIO(data)) as probe:
            kind = probe.format
            width, height = probe.size
            if kind not in {"JPEG", "PNG"}:
                raise DomainError(_l("The photo must be a JPEG or PNG image."), field=field)
            if max(width, height) > PHOTO_MAX_SIDE or min(width, height) < PHOTO_MIN_SIDE:
                raise DomainError(_l("The photo must be between %(min)d and %(max)d pixels on "
                                     "each side.", min=PHOTO_MIN_SIDE, max=PHOTO_MAX_SIDE),
                                  field=field)
            probe.load()
            image = probe.convert("RGB")
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError):
        raise DomainError(_l("The file is not a readable JPEG or PNG image."), field=field) from None
    image.thumbnail((PHOTO_STORED_SIDE, PHOTO_STORED_SIDE))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)  # drops EXIF (location) and anything appended
    return out.getvalue(), image.width, image.height


# --- looking people up ---------------------------------------------------------------------------


@dataclass
class LookupAnswer:
    """What a lookup by identity number and name tells the asker: the person when the number
    and the name both match a record the asker may see, else nothing (the same answer for an
    unknown number and a wrong name: no oracle of which numbers exist); a ban in force when
    the number and name match its decision."""

    person: Person | None = None
    ban: Ban | None = None


def lookup_person(actor, id_number: str, name: str) -> LookupAnswer:
    """The registry lookup (regulators and administrators), audited."""
    authorize(actor, rules.can_lookup_registry)
    number = normalise_id_number(id_number)
    try:
        typed = normalise_name(name)
    except DomainError:
        typed = None
    person = find_person(number)
    if person is not None and (person.name != typed
                               or not rules.can_view_person(actor, person=person)):
        person = None
    ban = ban_gate([number]).get(number)
    if ban is not None and ban.name != typed:
        ban = None
    security.record_event("registry.lookup", actor=_user_or_none(actor),
                          detail={"found": person is not None})
    audit.record(actor, "registry.lookup", person, object_type="persons",
                 id_number=mask_id_number(number), found=person is not None,
                 banned=ban is not None)
    return LookupAnswer(person, ban)


def find_staff_member(actor, org: Organisation, id_number: str) -> Person | None:
    """An institution finds one of its own (past) staff by identity number, audited; anyone
    else is "not found", whether the number is registered or not."""
    authorize(actor, rules.can_view_staff, org=org)
    person = find_person(id_number)
    if person is not None and not person_is_on_staff(person, org.id):
        person = None
    # the person found, so their own-data page can tell them who looked them up
    audit.record(actor, "registry.staff_lookup", org, found=person is not None,
                 person_id=person.id if person is not None else None)
    return person


#: finds the certificate page behind issued qualifications: {qualification id: certificate id};
#: the certificates package registers it in create_app (registry may not import it)
_certificate_finder: Callable[[list[int]], dict[int, int]] | None = None


def register_certificate_finder(finder: Callable[[list[int]], dict[int, int]]) -> None:
    global _certificate_finder
    _certificate_finder = finder


def certificate_ids(qualifications: list[Qualification]) -> dict[int, int]:
    """The certificate id of each qualification this system issued (for links to its page)."""
    wanted = [q.id for q in qualifications if q.source == "issued"]
    if not wanted or _certificate_finder is None:
        return {}
    return _certificate_finder(wanted)


# --- caregiver accounts ----------------------------------------------------------------------


def account_id(person_id: int) -> int | None:
    """The id of the person's own account (one per person), if they have one."""
    return db.session.scalar(select(User.id).where(User.person_id == person_id))


def has_chosen_password(user: User) -> bool:
    """Whether the person set their own password (not a one-time password waiting to be
    changed): no institution ever replaces it."""
    return bool(user.password_hash) and not user.must_change_password


ACCOUNT_NOT_YOURS = _l("This person's account is not managed by this institution (they work "
                       "elsewhere too, or have signed in already). They reset their password "
                       "through a system administrator.")
OWN_PASSWORD = _l("This person has set their own password; an institution cannot replace it. "
                  "They reset it through a system administrator.")


def ensure_account(actor, person: Person) -> tuple[User, str | None]:
    """The person's caregiver account; a new one gets a one-time initial password (returned).

    An institution creates an account only for a person whose only current employer it is,
    and is recorded as its creator."""
    authorize(actor, rules.can_edit_person, person=person)
    user = db.session.scalar(select(User).where(User.person_id == person.id))
    if user is not None:
        return user, None
    if not controls_person(actor, person):
        raise DomainError(ACCOUNT_NOT_YOURS)
    user = User(display_name=person.name, role=Role.CAREGIVER.value, person_id=person.id)
    db.session.add(user)
    db.session.flush()
    org_id = getattr(actor, "organisation_id", None)
    if org_id and getattr(actor, "role", None) == Role.INSTITUTION_ADMIN:
        db.session.add(AccountOrigin(user_id=user.id, organisation_id=org_id))
    audit.record(actor, "auth.user_created", user, role=Role.CAREGIVER.value)
    return user, auth_service.issue_one_time_password(actor, user)


def may_issue_password(actor, org: Organisation, person: Person) -> str | None:
    """None when `org`'s admin may issue `person` a one-time password now, else the reason.

    Only for an account the institution created that has never been used, or a person whose
    only current employer it is; never over a password the person chose."""
    user = db.session.scalar(select(User).where(User.person_id == person.id))
    if user is None:
        return None if controls_person(actor, person, org.id) else str(ACCOUNT_NOT_YOURS)
    if not user.is_enabled:
        return str(_l("This account is disabled; ask the system administrator."))
    if has_chosen_password(user):
        return str(OWN_PASSWORD)
    if is_system(actor) or getattr(actor, "role", None) == Role.ADMIN:
        return None
    origin = db.session.get(AccountOrigin, user.id)
    created_here = origin is not None and origin.organisation_id == org.id
    if created_here and user.last_login_at is None:
        return None
    if org.id in current_employers(person.id) and controls_person(actor, person, org.id):
        return None
    return str(ACCOUNT_NOT_YOURS)


def issue_staff_password(actor, org: Organisation, person: Person) -> tuple[User, str]:
    """A new one-time password for a staff member (creating their account if they have none)."""
    authorize(actor, rules.can_manage_org_person, org=org, person=person)
    problem = may_issue_password(actor, org, person)
    if problem:
        raise DomainError(problem)
    user, password = ensure_account(actor, person)
    if password is None:
        password = auth_service.issue_one_time_password(actor, user)
    return user, password


def resolve_login(identifier: str) -> User | None:
    """Sign-in by identity number or mobile number (registered with auth)."""
    text = clean(identifier)
    person = None
    if len(text) == 18:
        person = find_person(text)
    else:
        try:
            mobile = normalise_mobile(text)
        except DomainError:
            mobile = None
        if mobile:
            person = db.session.scalar(select(Person).where(Person.mobile == mobile))
    if person is None:
        return None
    return db.session.scalar(select(User).where(User.person_id == person.id))


def identity_words(user: User) -> list[str]:
    """The person's identity number, mobile and name: a password must not contain them
    (registered with auth)."""
    person = db.session.get(Person, user.person_id) if user.person_id else None
    return [] if person is None else [person.id_number, person.mobile or "", person.name]


# --- organisations -------------------------------------------------------------------------------


def create_organisation(actor, *, kind: str, name: str, district: District, credit_code=None,
                        filing_no: str | None = None, address: str = "") -> Organisation:
    """Register an organisation; codes are validated and must be unique."""
    authorize(actor, rules.can_manage_organisations)
    if kind not in {k.value for k in OrgKind}:
        raise DomainError(_l("Choose the kind of organisation."), field="kind")
    name = " ".join((name or "").split())
    if not name:
        raise DomainError(_l("Enter the organisation's name."), field="name")
    code = normalise_credit_code(credit_code, required=kind == OrgKind.INSTITUTION)
    if code and db.session.scalar(select(Organisation.id).where(Organisation.credit_code == code)):
        raise DomainError(_l("An organisation with this unified social credit code is already "
                             "registered."), field="credit_code")
    filing_no = clean(filing_no) or None
    if filing_no and db.session.scalar(select(Organisation.id).where(Organisation.filing_no == filing_no)):
        raise DomainError(_l("An institution with this filing number is already registered."),
                          field="filing_no")
    org = Organisation(kind=kind, name=name, district_id=district.id, credit_code=code,
                       filing_no=filing_no if kind == OrgKind.INSTITUTION else None,
                       address=(address or "").strip()[:200])
    db.session.add(org)
    db.session.flush()
    audit.record(actor, "registry.organisation_created", org, kind=kind)
    return org


# --- employments ---------------------------------------------------------------------------------


@dataclass
class StaffAdded:
    employment: Employment
    person_created: bool
    initial_password: str | None = None


@functools.cache
def _post_names() -> dict[str, Post]:
    return {**Post.chinese_names(), **{p.value: p for p in Post}, **{p.value.upper(): p for p in Post}}


def parse_post(value) -> Post:
    """A post from its code or its Chinese name (Simplified or Traditional)."""
    names = _post_names()
    if isinstance(value, str) and value.strip() in names:
        return names[value.strip()]
    text = clean(value)
    if not text:
        raise DomainError(_l("Enter the post."), field="post")
    post = names.get(text) or names.get(text.lower())
    if post is None:
        raise DomainError(_l("Unknown post: %(post)s.", post=str(value)[:40]), field="post")
    return post


#: how far back a start date may lie, and how far ahead (one rule for form and roster)
START_YEARS_BACK = 60
START_DAYS_AHEAD = 366
MIN_WORKING_AGE = 16


def years_before(day: date, years: int) -> date:
    """The same day `years` earlier; 29 February becomes 28 February in a common year
    (never date.replace(year=...), which raises on 29 February)."""
    try:
        return date(day.year - years, day.month, day.day)
    except ValueError:
        return date(day.year - years, 2, 28)


def age_on(born: date, day: date) -> int:
    """Completed years on `day` (someone born on 29 February turns a year older on 1 March
    in a common year)."""
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


@dataclass
class StaffRow:
    name: str
    id_number: str
    birth_date: date
    mobile: str | None
    post: Post
    start_date: date | None
    is_direct_manager: bool


def check_staff_row(*, name, id_number, mobile, post, start_date: date | None,
                    is_direct_manager: bool = False,
                    today: date | None = None) -> tuple[StaffRow | None, list[DomainError]]:
    """THE validation of one staff member, shared by the form and the roster import: the
    row (None when any field is wrong) and every problem found, each naming its field.

    `start_date` None means the caller could not read a date (and has said so)."""
    today = today or local_today()
    problems: list[DomainError] = []
    number = born = None
    try:
        name = normalise_name(name)
    except DomainError as err:
        problems.append(err)
    try:
        number, born = parse_id_number(id_number, today)
    except DomainError as err:
        problems.append(err)
    try:
        mobile = normalise_mobile(mobile)
    except DomainError as err:
        problems.append(err)
    try:
        post = parse_post(post)
    except DomainError as err:
        problems.append(err)
    if start_date is not None:
        if start_date < years_before(today, START_YEARS_BACK):
            problems.append(DomainError(_l("The start date %(date)s is more than %(n)d years ago.",
                                           date=start_date.isoformat(), n=START_YEARS_BACK),
                                        field="start_date"))
        elif start_date > today + timedelta(days=START_DAYS_AHEAD):
            problems.append(DomainError(_l("The start date %(date)s is more than a year ahead.",
                                           date=start_date.isoformat()), field="start_date"))
        elif born is not None and age_on(born, start_date) < MIN_WORKING_AGE:
            problems.append(DomainError(_l("The person would be under %(n)d on the start date.",
                                           n=MIN_WORKING_AGE), field="start_date"))
    if problems:
        return None, problems
    return StaffRow(name, number, born, mobile, post, start_date,
                    bool(is_direct_manager or post == Post.DIRECTOR)), []


# --- the employment state machine ----------------------------------------------------------------

EMPLOYMENT_TRANSITIONS = {
    (EmploymentState.CURRENT, EmploymentAction.END): EmploymentState.ENDED,
}


def _may_act_on_employment(user, employment: Employment, action) -> bool:
    return rules.can_manage_employment(user, org=employment.organisation, employment=employment)


EMPLOYMENT = StateMachine(Employment, EmploymentState, EmploymentAction, EMPLOYMENT_TRANSITIONS,
                          may=_may_act_on_employment, audit_prefix="registry.employment")


def employments_at(org: Organisation, person: Person) -> list[Employment]:
    """What an institution sees of a person's work history: its own employments only (linking
    someone employed elsewhere does not show the new employer the other employers' records)."""
    return [e for e in person.employments if e.organisation_id == org.id]


def employments_seen_by(actor, person: Person) -> list[Employment]:
    """What the registry's person page shows of a person's work history (issue 14): all of it to
    an administrator or a city-wide regulator; to a district regulator, the history of the
    district's own institutions, and the person's other current employments only while the
    person works in the district now — never what a former employee does in another district."""
    authorize(actor, rules.can_view_person, person=person)
    employments = list(person.employments)
    district_id = getattr(actor, "district_id", None)
    if is_system(actor) or getattr(actor, "role", None) != Role.REGULATOR or district_id is None:
        return employments
    here_now = any(e.end_date is None and e.organisation.district_id == district_id
                   for e in employments)
    return [e for e in employments if e.organisation.district_id == district_id
            or (here_now and e.end_date is None)]


def employment_actions(employment: Employment, user) -> list[EmploymentAction]:
    """What pages offer on an employment: the actions this user may take on it now."""
    return EMPLOYMENT.allowed_actions(employment, user)


def add_staff(actor, org: Organisation, *, id_number: str, name: str, mobile=None, post,
              start_date: date, is_direct_manager: bool = False) -> StaffAdded:
    """Register a staff member at an institution: link or create the person, record the
    employment, and give a person whose only employer this is a caregiver account with a
    one-time password (someone working elsewhere too keeps their account to themselves)."""
    authorize(actor, rules.can_manage_staff, org=org)
    if org.kind != OrgKind.INSTITUTION:
        raise DomainError(_l("Staff are registered at childcare institutions only."))
    row, problems = check_staff_row(name=name, id_number=id_number, mobile=mobile, post=post,
                                    start_date=start_date, is_direct_manager=is_direct_manager)
    if problems:
        raise problems[0]
    check_not_banned(row.id_number)
    person, created = get_or_create_person(actor, id_number=row.id_number, name=row.name,
                                           mobile=row.mobile)
    current = db.session.scalar(select(Employment.id).where(
        Employment.person_id == person.id, Employment.organisation_id == org.id,
        Employment.post == row.post.value, Employment.end_date.is_(None)))
    if current is not None:
        raise DomainError(POST_HELD, field="post")
    employment = Employment(person=person, organisation_id=org.id, post=row.post.value,
                            state=EmploymentState.CURRENT.value,
                            is_direct_manager=row.is_direct_manager, start_date=row.start_date,
                            created_by_id=getattr(actor, "id", None))
    db.session.add(employment)
    db.session.flush()
    EMPLOYMENT.record_start(actor, employment)
    audit.record(actor, "registry.employment_started", employment, person_id=person.id,
                 organisation_id=org.id, post=row.post.value)
    password = None
    if controls_person(actor, person, org.id):
        _, password = ensure_account(actor, person)
    return StaffAdded(employment, created, password)


POST_HELD = _l("This person already holds this post at this institution.")


def end_employment(actor, employment: Employment, end_date: date, reason: str) -> None:
    """End a current employment; the record stays as history."""
    authorize(actor, rules.can_manage_employment, org=employment.organisation,
              employment=employment)
    if EMPLOYMENT.state_of(employment) == EmploymentState.ENDED:
        raise InvalidTransition(_l("This employment has already ended."))
    if end_date < employment.start_date:
        raise DomainError(_l("The end date cannot be before the start date (%(date)s).",
                             date=employment.start_date.isoformat()), field="end_date")
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(_l("Give the reason the employment ends."), field="reason")
    EMPLOYMENT.apply(actor, employment, EmploymentAction.END, reason=reason[:200],
                     values={"end_date": end_date, "end_reason": reason[:200]},
                     end_date=end_date.isoformat())


# --- direct managers (issue 15) -------------------------------------------------------------------


def _covers(day: date):
    """The manager row in force on a day: from starts_on up to, not including, ends_on."""
    return and_(EmploymentManager.starts_on <= day,
                or_(EmploymentManager.ends_on.is_(None), EmploymentManager.ends_on > day))


def _current_manager_row(employment: Employment) -> EmploymentManager | None:
    return db.session.scalar(select(EmploymentManager).where(
        EmploymentManager.employment_id == employment.id, EmploymentManager.ends_on.is_(None))
        .order_by(EmploymentManager.starts_on.desc(), EmploymentManager.id.desc()).limit(1))


def set_direct_manager(actor, employment: Employment, manager_employment: Employment | None,
                       from_date: date) -> EmploymentManager | None:
    """Record who directly manages an employment from a day on (None: nobody from that day);
    the previous record is closed, not rewritten."""
    authorize(actor, rules.can_manage_employment, org=employment.organisation,
              employment=employment)
    if not employment.is_current:
        raise DomainError(_l("This employment has ended; its direct manager can no longer change."))
    if from_date > local_today():
        raise DomainError(_l("The date cannot be in the future."), field="from_date")
    if from_date < employment.start_date:
        raise DomainError(_l("The date cannot be before the employment started (%(date)s).",
                             date=employment.start_date.isoformat()), field="from_date")
    if manager_employment is not None:
        if manager_employment.organisation_id != employment.organisation_id:
            raise DomainError(_l("The direct manager must work at the same institution."),
                              field="manager")
        if not manager_employment.is_current:
            raise DomainError(_l("The direct manager must be on the institution's staff now."),
                              field="manager")
        if manager_employment.person_id == employment.person_id:
            raise DomainError(_l("A person cannot be their own direct manager."), field="manager")
        if from_date < manager_employment.start_date:
            raise DomainError(_l("The manager started at the institution on %(date)s; choose that "
                                 "day or a later one.",
                                 date=manager_employment.start_date.isoformat()), field="from_date")
    current = _current_manager_row(employment)
    if current is not None and from_date < current.starts_on:
        raise DomainError(_l("The current direct manager is recorded from %(date)s; a change "
                             "cannot start earlier.", date=current.starts_on.isoformat()),
                          field="from_date")
    current_id = current.manager_employment_id if current is not None else None
    new_id = manager_employment.id if manager_employment is not None else None
    if current_id == new_id:
        raise DomainError(_l("This is already the recorded direct manager."), field="manager")
    if current is not None:
        current.ends_on = from_date
    row = None
    if manager_employment is not None:
        row = EmploymentManager(employment_id=employment.id,
                                manager_employment_id=manager_employment.id, starts_on=from_date,
                                recorded_by_id=getattr(actor, "id", None))
        db.session.add(row)
    audit.record(actor, "registry.direct_manager_set", employment, person_id=employment.person_id,
                 manager_employment_id=new_id, previous_manager_employment_id=current_id,
                 from_date=from_date.isoformat())
    db.session.flush()
    return row


def direct_manager_row_on(employment: Employment, day: date) -> EmploymentManager | None:
    """The record of the employment's direct manager in force on a day, if the manager was
    employed there that day (a manager who left manages nobody, though the row stays)."""
    manager = aliased(Employment)
    return db.session.scalar(
        select(EmploymentManager)
        .join(manager, manager.id == EmploymentManager.manager_employment_id)
        .where(EmploymentManager.employment_id == employment.id, _covers(day),
               manager.start_date <= day, or_(manager.end_date.is_(None), manager.end_date >= day))
        .order_by(EmploymentManager.starts_on.desc(), EmploymentManager.id.desc()).limit(1))


def direct_manager_on(employment: Employment, day: date) -> Employment | None:
    """The employment of the person who directly managed this employment on a day, if any."""
    row = direct_manager_row_on(employment, day)
    return row.manager_employment if row is not None else None


def manager_choices(employment: Employment) -> list[Employment]:
    """Who may be recorded as an employment's direct manager: the current employments of the
    institution's other staff (a person holding two posts there is offered under each)."""
    return list(db.session.scalars(
        select(Employment).join(Employment.person).options(contains_eager(Employment.person))
        .where(Employment.organisation_id == employment.organisation_id,
               Employment.end_date.is_(None), Employment.person_id != employment.person_id)
        .order_by(Person.name, Employment.id)))


def staff_statement(org: Organisation, *, search: str = "", current_only: bool = True):
    """The query behind an institution's staff list (name or mobile search)."""
    stmt = (select(Employment).join(Employment.person).options(contains_eager(Employment.person))
            .where(Employment.organisation_id == org.id))
    if current_only:
        stmt = stmt.where(Employment.end_date.is_(None))
    search = " ".join((search or "").split())
    if search:
        digits = clean(search)
        if digits.isdigit() and len(digits) == 4:
            # the last four of a mobile or identity number, as masked lists show them
            stmt = stmt.where(or_(Person.mobile.endswith(digits), Person.id_number.endswith(digits)))
        elif digits.isdigit():
            stmt = stmt.where(Person.mobile.contains(digits))
        else:
            stmt = stmt.where(Person.name.contains(search))
    return stmt.order_by(Person.name, Employment.id)


# --- post requirements and compliance -------------------------------------------------------------


@dataclass
class PostCheck:
    post: Post
    satisfied: bool
    required: list[PostRequirement] = field(default_factory=list)
    held: list[Qualification] = field(default_factory=list)

    @property
    def needs_nothing(self) -> bool:
        return not self.required


def qualification_valid_on(on: date, qualification=Qualification):
    """The rule as SQL: a qualification (`qualification`: Qualification or an alias) valid on
    the date: not revoked, issued, not expired (valid through its expiry date)."""
    q = qualification
    return and_(q.revoked_at.is_(None), q.issued_on <= on,
                or_(q.expires_on.is_(None), q.expires_on >= on))


def valid_qualifications(person_ids: list[int], on: date) -> dict[int, list[Qualification]]:
    """Each person's qualifications valid on the date (not revoked, issued, not expired):
    {person_id: [Qualification]}, every id asked for a key. One query per 5,000 people."""
    out: dict[int, list[Qualification]] = {pid: [] for pid in person_ids}
    for chunk in chunks(person_ids):
        rows = db.session.scalars(select(Qualification).where(
            one_of(Qualification.person_id, chunk), qualification_valid_on(on)))
        for q in rows:
            out[q.person_id].append(q)
    return out


def _requirements() -> dict[str, list[PostRequirement]]:
    """{post: [PostRequirement]}, the post rules (a few dozen rows changed a few times a year),
    from the process's reference cache (lms.core.refcache): the rows are expunged from the
    session that read them, with their qualification type, and must not be changed."""
    return refcache.cached("registry.post_requirements", None, _load_requirements)


def post_rules() -> dict[str, list[PostRequirement]]:
    """{post: [PostRequirement]}: the post rules in force, from the reference cache (read only)."""
    return _requirements()


def qualification_types() -> dict[int, QualificationType]:
    """{id: QualificationType}, from the reference cache (detached rows: read only)."""
    return refcache.cached("registry.qualification_types", None, _load_types)


def _load_types() -> dict[int, QualificationType]:
    with Session(bind=db.session.connection(), expire_on_commit=False) as reader:
        types = {t.id: t for t in reader.scalars(select(QualificationType))}
        reader.expunge_all()
    return types


def _load_requirements() -> dict[str, list[PostRequirement]]:
    # read by a session of their own on the request's connection (its transaction), then
    # detached: the request's session keeps its own instances of the same rows untouched
    rules: dict[str, list[PostRequirement]] = {}
    with Session(bind=db.session.connection(), expire_on_commit=False) as reader:
        for req in reader.scalars(select(PostRequirement)):  # with their types (joined)
            rules.setdefault(req.post, []).append(req)
        reader.expunge_all()
    return rules


refcache.watch(PostRequirement, QualificationType)


def _meets(req: PostRequirement, q: Qualification) -> bool:
    if q.qualification_type_id != req.qualification_type_id:
        return False
    # levels run 5 (lowest) to 1 (highest): a smaller number is a higher level
    return req.min_level is None or (q.level is not None and q.level <= req.min_level)


def check_posts(employments: list[Employment], on: date | None = None, *,
                held: dict[int, list[Qualification]] | None = None) -> dict[int, PostCheck]:
    """For each employment: does the person hold a qualification the post requires?

    Batched (two queries whatever the number of employments) for list pages. `held`: the
    people's valid_qualifications on the date, when the caller has read them already.
    """
    if not employments:
        return {}
    on = on or local_today()
    rules = _requirements()
    if held is None:
        held = valid_qualifications(sorted({e.person_id for e in employments}), on)
    result = {}
    for e in employments:
        required = rules.get(e.post, [])
        mine = held.get(e.person_id, [])
        matching = [q for q in mine if any(_meets(r, q) for r in required)]
        result[e.id] = PostCheck(Post(e.post), not required or bool(matching), required, matching)
    return result


def satisfies_post(person: Person, post, on: date | None = None) -> PostCheck:
    """Does this person satisfy this post on this date?"""
    post = parse_post(post)
    on = on or local_today()
    required = _requirements().get(post.value, [])
    mine = valid_qualifications([person.id], on)[person.id]
    matching = [q for q in mine if any(_meets(r, q) for r in required)]
    return PostCheck(post, not required or bool(matching), required, matching)


def add_post_requirement(actor, post, qualification_type: QualificationType,
                         min_level: int | None) -> PostRequirement:
    """Let a qualification type (at least a level) satisfy a post."""
    authorize(actor, rules.can_manage_post_rules)
    post = parse_post(post)
    if min_level is not None:
        if not qualification_type.has_levels:
            raise DomainError(_l("This qualification has no levels."), field="min_level")
        if not 1 <= min_level <= 5:
            raise DomainError(_l("Levels run from 5 (entry) to 1 (highest)."), field="min_level")
    exists = db.session.scalar(select(PostRequirement.id).where(
        PostRequirement.post == post.value,
        PostRequirement.qualification_type_id == qualification_type.id))
    if exists:
        raise DomainError(_l("This qualification already satisfies this post."))
    req = PostRequirement(post=post.value, qualification_type_id=qualification_type.id,
                          min_level=min_level)
    db.session.add(req)
    db.session.flush()
    audit.record(actor, "registry.post_requirement_added", req, post=post.value,
                 qualification=qualification_type.code, min_level=min_level)
    return req


def remove_post_requirement(actor, req: PostRequirement) -> None:
    """Stop a qualification type from satisfying a post."""
    authorize(actor, rules.can_manage_post_rules)
    audit.record(actor, "registry.post_requirement_removed", req, post=req.post,
                 qualification=req.qualification_type.code)
    db.session.delete(req)
    db.session.flush()


def add_qualification(actor, person: Person, qualification_type: QualificationType, *,
                      issued_on: date, level: int | None = None, expires_on: date | None = None,
                      certificate_no: str = "", issuer: str = "",
                      source: str = "external") -> Qualification:
    """Record a certificate or training record a person holds: entered from the paper
    ("external", by the person's institution or an administrator), or issued by this system
    ("issued", by the certificates service for the issuing base)."""
    if source == "issued":
        authorize(actor, rules.can_record_issued_qualification)
    else:
        authorize(actor, rules.can_edit_person, person=person)
    if qualification_type.has_levels and level is None:
        raise DomainError(_l("Choose the level."), field="level")
    if level is not None and not 1 <= level <= 5:
        raise DomainError(_l("Levels run from 5 (entry) to 1 (highest)."), field="level")
    if (level is not None and qualification_type.has_levels and qualification_type.level_list
            and level not in qualification_type.level_list):
        raise DomainError(_l("This certificate has no level %(n)d; its levels are %(levels)s.",
                             n=level, levels=", ".join(map(str, qualification_type.level_list))),
                          field="level")
    if issued_on > local_today():
        raise DomainError(_l("The issue date is in the future."), field="issued_on")
    if expires_on is not None and expires_on < issued_on:
        raise DomainError(_l("The expiry date is before the issue date."), field="expires_on")
    q = Qualification(person_id=person.id, qualification_type_id=qualification_type.id,
                      level=level if qualification_type.has_levels else None,
                      issued_on=issued_on, expires_on=expires_on,
                      certificate_no=clean(certificate_no)[:60], issuer=(issuer or "").strip()[:120],
                      source="issued" if source == "issued" else "external")
    db.session.add(q)
    db.session.flush()
    audit.record(actor, "registry.qualification_added", q, person_id=person.id,
                 qualification=qualification_type.code)
    return q


# --- reference data ------------------------------------------------------------------------------

#: Qualification types and the default post rules (issue #3). Codes are stable identifiers.
#: Qualification (certificate) types: code, Chinese and English names, the levels its national
#: skill standard defines (5 = 五级/初级工 .. 1 = 一级/高级技师; empty: no levels), the
#: occupation code in the national occupation classification, validity in months (None: does
#: not expire) and the prefix of the numbers this system gives them.
#: Sources: 《中华人民共和国职业分类大典（2022年版）》 (人力资源社会保障部) for the codes —
#: 4-10-01-01 婴幼儿发展引导员, 4-10-01-02 育婴员, 4-10-01-03 保育师; the national skill
#: standards for the levels — 国家职业技能标准《婴幼儿发展引导员》(2021年版): 四级, 三级,
#: 二级, 一级 (no 五级); 《育婴员》(2019年版): 五级 to 三级; 《保育师》(2021年版): 五级 to
#: 一级 (corrected in issue 12; migration b5e2c8a17d40 fixes databases seeded before).
#: Validity is set by local rules; an administrator corrects codes, levels, validity and
#: required hours on the certificate types page.
QUALIFICATION_TYPES = [
    ("baoyushi", "保育师", "Nursery teacher (保育师)", "5,4,3,2,1", "4-10-01-03", None, "BYS"),
    ("yuyingyuan", "育婴员", "Infant carer (育婴员)", "5,4,3", "4-10-01-02", None, "YYY"),
    ("yingyouer_fazhan", "婴幼儿发展引导员", "Infant development guide (婴幼儿发展引导员)", "4,3,2,1",
     "4-10-01-01", None, "YEF"),
    ("baojian_training", "卫生保健人员培训合格证明", "Health-care staff training (卫生保健人员培训)", "",
     "", 36, "BJP"),
    ("director_training", "托育机构负责人培训合格证明", "Childcare director training (托育机构负责人培训)", "",
     "", 36, "FZR"),
    ("baoan", "保安员证", "Security guard certificate (保安员证)", "", "", None, ""),
    ("medical_licence", "医师或护士执业证书", "Medical or nursing licence (执业证书)", "", "", None, ""),
    ("food_safety", "食品安全管理员培训合格证明", "Food-safety manager training (食品安全管理员)", "",
     "", None, ""),
    ("teacher_cert", "教师资格证", "Teacher qualification certificate (教师资格证)", "", "", None, ""),
    ("health_cert", "健康证", "Health certificate (健康证)", "", "", 12, ""),
]

DEFAULT_POST_RULES = [
    (Post.NURSERY_CARER, "baoyushi", None),
    (Post.INFANT_CARER, "yuyingyuan", None),
    (Post.HEALTH_CARE, "baojian_training", None),
    (Post.DIRECTOR, "director_training", None),
    (Post.SECURITY, "baoan", None),
    (Post.MEDICAL, "medical_licence", None),
    (Post.FOOD_SAFETY, "food_safety", None),
    (Post.EARLY_EDUCATOR, "teacher_cert", None),
    (Post.EARLY_EDUCATOR, "yingyouer_fazhan", None),
]


def update_qualification_type(actor, qtype: QualificationType, *, name_zh: str, name_en: str,
                              occupation_code: str, validity_months, number_prefix: str,
                              levels: str | None = None, required_hours=None) -> None:
    """An administrator corrects a certificate type's data (names, occupation code, validity,
    number prefix); certificates already issued keep their numbers and dates."""
    import re

    authorize(actor, rules.can_manage_organisations)

    name_zh, name_en = (name_zh or "").strip(), (name_en or "").strip()
    if not name_zh or len(name_zh) > 80 or not name_en or len(name_en) > 120:
        raise DomainError(_l("Give the type's Chinese and English names."), field="name_zh")
    occupation_code = (occupation_code or "").strip()
    if occupation_code and not re.fullmatch(r"\d-\d{2}-\d{2}-\d{2}", occupation_code):
        raise DomainError(_l("An occupation code looks like 4-10-01-03."), field="occupation_code")
    if validity_months in ("", None):
        months = None
    else:
        try:
            months = int(validity_months)
        except (TypeError, ValueError):
            months = -1
        if not 1 <= months <= 600:
            raise DomainError(_l("Validity is a number of months from 1 to 600, or empty for "
                                 "certificates that do not expire."), field="validity_months")
    prefix = (number_prefix or "").strip().upper()
    if prefix and not re.fullmatch(r"[A-Z]{2,6}", prefix):
        raise DomainError(_l("A number prefix is 2 to 6 capital letters."), field="number_prefix")
    level_list = qtype.level_list
    if levels is not None and qtype.has_levels:
        parts = [p.strip() for p in levels.replace("，", ",").split(",") if p.strip()]
        if not parts or any(p not in {"1", "2", "3", "4", "5"} for p in parts) or len(set(parts)) != len(parts):
            raise DomainError(_l("Levels are numbers from 5 (entry) to 1, separated by commas."),
                              field="levels")
        level_list = sorted({int(p) for p in parts}, reverse=True)
    if required_hours in ("", None):
        hours = None
    else:
        try:
            hours = int(required_hours)
        except (TypeError, ValueError):
            hours = -1
        if not 1 <= hours <= 1000:
            raise DomainError(_l("Required hours are a whole number from 1 to 1000, or empty."),
                              field="required_hours")
    before = {"occupation_code": qtype.occupation_code, "validity_months": qtype.validity_months,
              "number_prefix": qtype.number_prefix, "levels": qtype.levels,
              "required_hours": qtype.required_hours}
    qtype.levels = ",".join(str(x) for x in level_list)
    qtype.required_hours = hours
    qtype.name_zh, qtype.name_en, qtype.occupation_code = name_zh, name_en, occupation_code
    qtype.validity_months, qtype.number_prefix = months, prefix
    db.session.flush()
    audit.record(actor, "registry.qualification_type_changed", qtype, before=before,
                 occupation_code=occupation_code, validity_months=months, number_prefix=prefix)


MAX_SCAN_BYTES = 5 * 1024 * 1024


def scan_content_type(data: bytes, field: str = "scan") -> str:
    """The check of an uploaded scan (certificates, staff records): a PDF, JPEG or PNG by its
    first bytes, at most 5 MB (lms.core.uploads); its content type."""
    return document_type(data, field=field, max_bytes=MAX_SCAN_BYTES,
                         missing=_l("Attach the scan (a PDF, JPEG or PNG file)."),
                         too_big=_l("The scan is larger than 5 MB."),
                         wrong_type=_l("The scan must be a PDF, JPEG or PNG file."))


def attach_scan(actor, qualification: Qualification, data: bytes) -> QualificationScan:
    """Keep the scan of a certificate entered by hand (PDF, JPEG or PNG, by its content)."""
    authorize(actor, rules.can_edit_person, person=db.session.get(Person, qualification.person_id))
    kind = scan_content_type(data)
    scan = db.session.get(QualificationScan, qualification.id)
    if scan is None:
        scan = QualificationScan(qualification_id=qualification.id, content_type=kind, data=data)
        db.session.add(scan)
    else:
        scan.content_type, scan.data = kind, data
    qualification.checked_at = qualification.checked_by_id = None  # a new scan needs a new check
    db.session.flush()
    audit.record(actor, "registry.scan_attached", qualification, bytes=len(data))
    return scan


def mark_checked(actor, qualification: Qualification) -> None:
    """A regulator confirms an external certificate against the paper or its scan."""
    from lms.core.models import utcnow

    authorize(actor, rules.can_check_qualification, qualification=qualification,
              message=_l("Only a regulator marks certificates checked."))
    if qualification.source != "external":
        raise DomainError(_l("Certificates issued by this system need no check."))
    qualification.checked_at, qualification.checked_by_id = utcnow(), actor.id
    db.session.flush()
    audit.record(actor, "registry.qualification_checked", qualification)


def ensure_reference_data() -> None:
    """Create the qualification types and default post rules once (idempotent)."""
    existing = {q.code: q for q in db.session.scalars(select(QualificationType))}
    for code, zh, en, levels, occupation, months, prefix in QUALIFICATION_TYPES:
        if code not in existing:
            existing[code] = QualificationType(code=code, name_zh=zh, name_en=en,
                                               has_levels=bool(levels), occupation_code=occupation,
                                               validity_months=months, number_prefix=prefix,
                                               levels=levels)
            db.session.add(existing[code])
    db.session.flush()
    if db.session.scalar(select(PostRequirement.id).limit(1)) is None:
        for post, code, level in DEFAULT_POST_RULES:
            db.session.add(PostRequirement(post=post.value, qualification_type_id=existing[code].id,
                                           min_level=level))
        db.session.flush()


# --- staff records: health checks and certificates of no criminal record ---------------------------

settings.define("registry.health_check_valid_months", _l("Months a staff member's health check "
                                                         "stays valid"), "int", 12, 1, 36,
                _l("months"))

#: how far back a health check or certificate may be dated (older ones are typing errors)
STAFF_RECORD_YEARS_BACK = 10
HEALTH_CHECK_VALID_MONTHS = 12

#: how rosters (and people) write a health check's result, whatever the interface language
HEALTH_RESULT_NAMES = {"合格": HealthResult.FIT, "不合格": HealthResult.UNFIT,
                       "fit": HealthResult.FIT, "unfit": HealthResult.UNFIT}

NOT_EMPLOYED_HERE = _l("This institution does not employ this person now; only a current "
                       "employer records their health check or certificate of no criminal "
                       "record.")


def parse_health_result(value) -> HealthResult | None:
    """A health check's result from its code or its Chinese name (合格 / 不合格); None when
    empty; a DomainError (field "result") when unknown."""
    if isinstance(value, HealthResult):
        return value
    text = clean(value) if value is not None else ""
    if not text:
        return None
    result = HEALTH_RESULT_NAMES.get(text) or HEALTH_RESULT_NAMES.get(text.lower())
    if result is None:
        raise DomainError(_l("Unknown result %(value)s: write 合格 (fit) or 不合格 (not fit).",
                             value=str(value)[:20]), field="result")
    return result


@dataclass
class StaffRecordRow:
    kind: StaffRecordKind
    issued_on: date
    result: HealthResult | None
    issuer: str
    document_no: str


def check_staff_record(*, kind, issued_on: date | None, result=None, issuer: str = "",
                       document_no: str = "",
                       today: date | None = None) -> tuple[StaffRecordRow | None, list[DomainError]]:
    """THE validation of a health check or certificate of no criminal record, shared by the
    form and the roster import: the row (None when any field is wrong) and every problem
    found, each naming its field (kind, issued_on, result, issuer, document_no).

    `issued_on` None means the caller could not read a date (and has said so)."""
    today = today or local_today()
    problems: list[DomainError] = []
    try:
        kind = StaffRecordKind(kind)
    except ValueError:
        problems.append(DomainError(_l("Choose a health check or a certificate of no criminal "
                                       "record."), field="kind"))
        kind = None
    if issued_on is not None:
        if issued_on > today:
            problems.append(DomainError(_l("The date %(date)s is in the future.",
                                           date=issued_on.isoformat()), field="issued_on"))
        elif issued_on < years_before(today, STAFF_RECORD_YEARS_BACK):
            problems.append(DomainError(_l("The date %(date)s is more than %(n)d years ago.",
                                           date=issued_on.isoformat(), n=STAFF_RECORD_YEARS_BACK),
                                        field="issued_on"))
    try:
        parsed = parse_health_result(result)
    except DomainError as err:
        problems.append(err)
        parsed = None
    else:
        if kind == StaffRecordKind.HEALTH_CHECK and parsed is None:
            problems.append(DomainError(_l("Give the health check's result: fit or not fit."),
                                        field="result"))
        elif kind == StaffRecordKind.NO_CRIMINAL_RECORD and parsed is not None:
            problems.append(DomainError(_l("A certificate of no criminal record has no result; "
                                           "leave the result empty."), field="result"))
    issuer = " ".join((issuer or "").split())
    if not issuer:
        problems.append(DomainError(_l("Enter who issued it: the hospital, or the public-security "
                                       "office."), field="issuer"))
    elif len(issuer) > 120:
        problems.append(DomainError(_l("The issuer's name is longer than 120 characters."),
                                    field="issuer"))
    document_no = clean(document_no)
    if len(document_no) > 60:
        problems.append(DomainError(_l("The document number is longer than 60 characters."),
                                    field="document_no"))
    if problems or kind is None or issued_on is None:
        return None, problems
    return StaffRecordRow(kind, issued_on, parsed, issuer, document_no), []


def record_staff_record(actor, org: Organisation, person: Person, *, kind, issued_on: date,
                        result=None, issuer: str, document_no: str = "",
                        scan: bytes | None = None) -> StaffRecord:
    """An institution records a staff member's health check or certificate of no criminal
    record (with its scan). Never edited: a newer record supersedes an older one."""
    authorize(actor, rules.can_record_staff_record, org=org, person=person)
    if not rules.employs_now(person, org.id):  # a system actor passes the gate, not this rule
        raise DomainError(NOT_EMPLOYED_HERE)
    if issued_on is None:
        raise DomainError(_l("Enter the date."), field="issued_on")
    row, problems = check_staff_record(kind=kind, issued_on=issued_on, result=result,
                                       issuer=issuer, document_no=document_no)
    if problems:
        raise problems[0]
    content_type = scan_content_type(scan) if scan else None
    record = StaffRecord(person_id=person.id, kind=row.kind.value, issued_on=row.issued_on,
                         result=row.result.value if row.result else None, issuer=row.issuer,
                         document_no=row.document_no, organisation_id=org.id,
                         recorded_by_id=getattr(actor, "id", None))
    db.session.add(record)
    db.session.flush()
    if content_type:
        db.session.add(StaffRecordScan(record_id=record.id, content_type=content_type, data=scan))
        db.session.flush()
    audit.record(actor, "registry.staff_record_added", record, person_id=person.id,
                 organisation_id=org.id, kind=row.kind.value,
                 result=row.result.value if row.result else None, scan=bool(content_type))
    return record


def staff_records(actor, person: Person) -> list[StaffRecord]:
    """A person's health checks and certificates of no criminal record, newest first."""
    authorize(actor, rules.can_see_staff_records, person=person)
    return list(db.session.scalars(
        select(StaffRecord).where(StaffRecord.person_id == person.id)
        .order_by(StaffRecord.issued_on.desc(), StaffRecord.id.desc())))


def staff_record_scan(actor, record: StaffRecord) -> StaffRecordScan | None:
    """The scan of a staff record, for whoever may see the record."""
    authorize(actor, rules.can_see_staff_record, record=record)
    return db.session.get(StaffRecordScan, record.id)


def _latest_first(record=StaffRecord) -> tuple:
    """The order in which a person's records of a kind supersede each other: the latest
    date first, the later-entered record between two of one date."""
    return record.issued_on.desc(), record.id.desc()


def latest_staff_record_id(person_id, kind: str):
    """The id of a person's latest record of a kind, as a scalar subquery correlated to the
    column `person_id` (e.g. Person.id): NULL when none. For a statement that reads a person's
    records with other rows (compliance); the same rule as latest_staff_records."""
    record = aliased(StaffRecord)
    return (select(record.id).where(record.person_id == person_id, record.kind == kind)
            .order_by(*_latest_first(record)).limit(1).scalar_subquery())


def latest_staff_records(person_ids: list[int]) -> dict[int, dict[str, StaffRecord]]:
    """The latest record of each kind for each person: {person id: {kind: record}} (every id
    asked for is a key; a kind never recorded is absent). One query per 5,000 people, served
    by ix_staff_records_latest; the later-entered record wins between two of one date."""
    wanted = list(dict.fromkeys(person_ids))
    out: dict[int, dict[str, StaffRecord]] = {pid: {} for pid in wanted}
    for chunk in chunks(wanted):
        # a person has a few records: all of them, latest first per kind, the first one kept
        # (a plain index scan; a window over the rows cost more than the rows themselves)
        for record in db.session.scalars(
                select(StaffRecord).where(one_of(StaffRecord.person_id, chunk))
                .order_by(StaffRecord.person_id, StaffRecord.kind, *_latest_first())):
            out[record.person_id].setdefault(record.kind, record)
    return out


def add_months(day: date, months: int) -> date:
    """The same day `months` later; a day the month lacks (29 February in a common year, 31
    April) becomes the first of the month after."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    try:
        return date(year, month + 1, day.day)
    except ValueError:
        return date(year + (month + 1) // 12, (month + 1) % 12 + 1, 1)


def health_check_lapses_on(record, months: int = HEALTH_CHECK_VALID_MONTHS) -> date:
    """The first day a health check no longer counts: the same date `months` later (one year
    by default: 2026-03-10 lapses on 2027-03-10; 29 February on 1 March). Pure: the caller
    reads the months from `health_check_valid_months`."""
    return add_months(record.issued_on, months)


def health_check_valid_months(district_id: int | None = None, on: date | None = None) -> int:
    """The setting registry.health_check_valid_months in force for the district on the date."""
    return settings.get_setting("registry.health_check_valid_months", district_id, on)


class StaffRecordState(TitledEnum):
    """How a staff record stands on a day (computed, never stored)."""

    CURRENT = "current"
    LAPSED = "lapsed"
    UNFIT = "unfit"
    MISSING = "missing"
    SUPERSEDED = "superseded"

    @classmethod
    def titles(cls):
        return {cls.CURRENT: _l("up to date"), cls.LAPSED: _l("lapsed"),
                cls.UNFIT: _l("not fit for work with children"), cls.MISSING: _l("missing"),
                cls.SUPERSEDED: _l("superseded by a newer record")}


#: the colour pages give each state (Bootstrap's text-bg-*)
STATE_TONES = {StaffRecordState.CURRENT: "success", StaffRecordState.LAPSED: "danger",
               StaffRecordState.UNFIT: "danger", StaffRecordState.MISSING: "warning",
               StaffRecordState.SUPERSEDED: "secondary"}


def staff_record_state(record: StaffRecord | None, on: date,
                       months: int = HEALTH_CHECK_VALID_MONTHS) -> StaffRecordState:
    """How the latest record of a kind stands on `on` (None: there is none). A health check
    counts for `months` and only when fit; a certificate of no criminal record does not lapse."""
    if record is None:
        return StaffRecordState.MISSING
    if record.kind != StaffRecordKind.HEALTH_CHECK:
        return StaffRecordState.CURRENT
    if record.result == HealthResult.UNFIT:
        return StaffRecordState.UNFIT
    if on >= health_check_lapses_on(record, months):
        return StaffRecordState.LAPSED
    return StaffRecordState.CURRENT


@dataclass
class StaffRecordLine:
    """One line of a person's staff records as pages show it."""

    kind: StaffRecordKind
    state: StaffRecordState
    record: StaffRecord | None = None
    #: health checks: the first day it no longer counts
    lapses_on: date | None = None
    has_scan: bool = False

    @property
    def title(self) -> str:
        return self.state.title

    @property
    def tone(self) -> str:
        return STATE_TONES[self.state]

    @property
    def lapsed_on(self) -> date | None:
        """Set only for a lapsed health check: the day it lapsed."""
        return self.lapses_on if self.state == StaffRecordState.LAPSED else None

    @property
    def valid_until(self) -> date | None:
        """Set only for a current health check: its last valid day."""
        if self.state != StaffRecordState.CURRENT or self.lapses_on is None:
            return None
        return self.lapses_on - timedelta(days=1)


def staff_record_lines(actor, person: Person, on: date | None = None) -> list[StaffRecordLine]:
    """A person's staff records as pages list them: a "missing" line for each kind never
    recorded, then every record newest first, the latest of each kind judged on `on` (by the
    validity in force in the recording institution's district), older ones superseded."""
    on = on or local_today()
    records = staff_records(actor, person)
    scans = set(db.session.scalars(select(StaffRecordScan.record_id).where(
        StaffRecordScan.record_id.in_([r.id for r in records])))) if records else set()
    districts = dict(db.session.execute(
        select(Organisation.id, Organisation.district_id).where(
            Organisation.id.in_({r.organisation_id for r in records if r.organisation_id}))).all())
    months: dict[int | None, int] = {}
    lines = [StaffRecordLine(kind, StaffRecordState.MISSING) for kind in StaffRecordKind
             if not any(r.kind == kind for r in records)]
    seen: set[str] = set()
    for record in records:
        district = districts.get(record.organisation_id)
        if district not in months:
            months[district] = health_check_valid_months(district, on)
        lapses = (health_check_lapses_on(record, months[district])
                  if record.kind == StaffRecordKind.HEALTH_CHECK else None)
        state = (StaffRecordState.SUPERSEDED if record.kind in seen
                 else staff_record_state(record, on, months[district]))
        seen.add(record.kind)
        lines.append(StaffRecordLine(StaffRecordKind(record.kind), state, record, lapses,
                                     record.id in scans))
    return lines
