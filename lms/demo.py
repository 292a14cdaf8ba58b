"""A demo city modelled on Nanjing: three districts, their institutions, staff and users.

`build_demo_city()` builds it once through the registry and auth services (so every row has
its audit record) and flushes without committing; the caller commits. Running it again
changes nothing. Everything is drawn from one seeded random generator, so the city is the
same on every machine: the same people, identity numbers, mobiles and codes. Dates are
counted back from `today`.

All persons are fictional. Their identity numbers are valid (region, birth date, check
character) but are invented; so are the institutions' credit and filing numbers.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import select
from stdnum.cn import ric, uscc
from werkzeug.security import generate_password_hash

from lms import demo_names as names
from lms.auth import service as auth_service
from lms.auth.models import Role, User
from lms.core.actors import DEMO
from lms.core.clock import local_today
from lms.core.models import District
from lms.extensions import db
from lms.registry import service as registry
from lms.registry.models import (
    BanKind,
    Employment,
    Organisation,
    OrgKind,
    Post,
    PostRequirement,
    QualificationType,
)

SEED = 20261123
ACTOR = DEMO  # the demo builder acts as a named system actor, never a bare string
PASSWORD = "Tuoyu-Demo-2026"  # noqa: S105 -- the published password of the demo accounts
CITY = "南京市"

#: (code, name, the one-character abbreviation used in filing numbers)
DISTRICTS = [("320102", "玄武区", "玄"), ("320104", "秦淮区", "秦"), ("320106", "鼓楼区", "鼓")]
INSTITUTIONS_PER_DISTRICT = 10

#: skill levels of the levelled certificates: 5 (五级) is the commonest
LEVEL_WEIGHTS = [(5, 60), (4, 30), (3, 10)]

#: qualification types whose certificate is valid for a number of years
VALID_YEARS = {"director_training": 5, "baojian_training": 3, "food_safety": 2}

#: what each post's holder is given when compliant
POST_QUALIFICATION = {
    Post.DIRECTOR: "director_training",
    Post.NURSERY_CARER: "baoyushi",
    Post.INFANT_CARER: "yuyingyuan",
    Post.HEALTH_CARE: "baojian_training",
    Post.SECURITY: "baoan",
    Post.MEDICAL: "medical_licence",
    Post.FOOD_SAFETY: "food_safety",
    Post.EARLY_EDUCATOR: "teacher_cert",  # or yingyouer_fazhan, see _qualify
}

ISSUERS = {
    "director_training": "南京市卫生健康委员会",
    "baojian_training": "南京市妇幼保健院",
    "baoan": "南京市公安局",
    "medical_licence": "南京市卫生健康委员会",
    "food_safety": "南京市市场监督管理局",
    "teacher_cert": "南京市教育局",
}

#: post rules the demo adds to the defaults: a minimum level (育婴员 四级 or above also
#: qualifies an early-childhood educator), so the compliance pages have a level to check
DEMO_POST_RULES = [(Post.EARLY_EDUCATOR, "yuyingyuan", 4)]

#: where the demo's staff have their yearly health check, by district
HEALTH_CHECK_ISSUERS = {
    "320102": ["南京市玄武区妇幼保健所", "南京市玄武医院", "江苏省人民医院"],
    "320104": ["南京市秦淮区妇幼保健所", "南京市秦淮医院", "南京市第一医院"],
    "320106": ["南京市鼓楼区妇幼保健所", "南京市鼓楼医院", "南京市第二医院"],
}
#: who issues the certificate of no criminal record (无犯罪记录证明), by district
CRIMINAL_RECORD_ISSUERS = {
    "320102": "南京市公安局玄武分局", "320104": "南京市公安局秦淮分局",
    "320106": "南京市公安局鼓楼分局",
}
#: how old a staff record may be (registry.service.STAFF_RECORD_YEARS_BACK)
STAFF_RECORD_YEARS = registry.STAFF_RECORD_YEARS_BACK

#: share of men in each post (the sector's workforce is about nine-tenths women)
MALE_SHARE = {
    Post.SECURITY: 0.85, Post.MEDICAL: 0.2, Post.FINANCE: 0.15, Post.FOOD_SAFETY: 0.3,
    Post.DIRECTOR: 0.05, Post.EARLY_EDUCATOR: 0.03, Post.HEALTH_CARE: 0.03,
    Post.NURSERY_CARER: 0.01, Post.INFANT_CARER: 0.01,
}

#: birth years (low, high, mode) by post
BIRTH_YEARS = {
    Post.DIRECTOR: (1968, 1990, 1980),
    Post.SECURITY: (1968, 1998, 1975),
    Post.NURSERY_CARER: (1970, 2004, 1992),
    Post.INFANT_CARER: (1970, 2004, 1990),
}
DEFAULT_BIRTH_YEARS = (1970, 2001, 1988)

MOBILE_PREFIXES = [
    "130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "153",
    "155", "156", "157", "158", "159", "166", "173", "177", "180", "181", "182", "183", "185",
    "186", "187", "188", "189", "191", "198", "199",
]

_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


# --- identifiers ---------------------------------------------------------------------------------


def make_id_number(region: str, born: date, sequence: int) -> str:
    """An 18-character 居民身份证号: region, birth date, 3-digit sequence, check character.

    The sequence's last digit is the gender digit (odd for men, even for women).
    """
    first17 = f"{region}{born:%Y%m%d}{sequence:03d}"
    return first17 + ric.calc_check_digit(first17 + "0")  # stdnum ignores the last character


def org_code(body: str) -> str:
    """The 9-character 组织机构代码 (GB 11714): 8 characters and their check character."""
    total = sum(int(c, 36) * w for c, w in zip(body, _ORG_WEIGHTS, strict=True))
    check = 11 - total % 11
    return body + {10: "X", 11: "0"}.get(check, str(check))


def make_credit_code(registrar: str, region: str, body: str) -> str:
    """A 统一社会信用代码 (GB 32100): registrar and kind (e.g. 52), region, org code, check."""
    first17 = f"{registrar}{region}{org_code(body)}"
    return first17 + uscc.calc_check_digit(first17 + "0")


def add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


# --- the plan: pure data, drawn from the seeded generator ----------------------------------------


@dataclass(frozen=True)
class PersonSpec:
    id_number: str
    name: str
    mobile: str
    birth_date: date
    female: bool


@dataclass(frozen=True)
class OrgSpec:
    kind: OrgKind
    name: str
    district_code: str
    credit_code: str
    address: str
    filing_no: str | None = None
    #: share of the current staff deliberately left without a valid qualification
    noncompliance: float = 0.0


@dataclass(frozen=True)
class JobSpec:
    person: int
    org: int
    post: Post
    start: date
    end: date | None = None
    end_reason: str = ""


@dataclass(frozen=True)
class QualSpec:
    person: int
    code: str
    issued: date
    level: int | None = None
    expires: date | None = None
    certificate_no: str = ""
    issuer: str = ""


@dataclass(frozen=True)
class RecordSpec:
    """A health check (with its result) or a certificate of no criminal record."""

    person: int
    org: int
    kind: str
    issued: date
    issuer: str
    result: str | None = None
    document_no: str = ""


@dataclass(frozen=True)
class BanSpec:
    person: int
    starts_on: date
    reason: str
    decision_ref: str


@dataclass
class CityPlan:
    today: date
    orgs: list[OrgSpec] = field(default_factory=list)
    persons: list[PersonSpec] = field(default_factory=list)
    jobs: list[JobSpec] = field(default_factory=list)
    quals: list[QualSpec] = field(default_factory=list)
    ban: BanSpec | None = None
    #: current staff's health checks and certificates of no criminal record
    records: list[RecordSpec] = field(default_factory=list)
    #: the nursery carer whose account gets the demo password
    caregiver: int = 0
    #: person indices of current staff deliberately left without a valid qualification
    noncompliant: set[int] = field(default_factory=set)

    def orgs_of(self, kind: OrgKind) -> list[int]:
        return [i for i, o in enumerate(self.orgs) if o.kind == kind]


class _Planner:
    def __init__(self, today: date):
        self.rng = random.Random(SEED)
        self.plan = CityPlan(today=today)
        self.id_numbers: set[str] = set()
        self.mobiles: set[str] = set()
        self.credit_codes: set[str] = set()
        self.certificate_seq = 0
        self.surnames = [s for s, _ in names.SURNAMES]
        self.surname_weights = [w for _, w in names.SURNAMES]
        self.places = [p for p, _ in names.BIRTHPLACES]
        self.place_weights = [w for _, w in names.BIRTHPLACES]
        self.minority_names = list(reversed(names.MINORITY_FEMALE))

    # -- people

    def _birth_date(self, post: Post) -> date:
        low, high, mode = BIRTH_YEARS.get(post, DEFAULT_BIRTH_YEARS)
        year = min(high, int(self.rng.triangular(low, high + 1, mode)))
        return date(year, 1, 1) + timedelta(days=self.rng.randint(0, 364))

    def _given_name(self, female: bool, born: date) -> str:
        if not female:
            return self.rng.choice(names.MALE_GIVEN)
        older = self.rng.random() < (0.75 if born.year < 1985 else 0.15)
        return self.rng.choice(names.FEMALE_GIVEN_OLDER if older else names.FEMALE_GIVEN_YOUNGER)

    def _name(self, female: bool, born: date) -> str:
        if self.rng.random() < 0.01:
            surname = self.rng.choice(names.COMPOUND_SURNAMES)
        else:
            surname = self.rng.choices(self.surnames, self.surname_weights)[0]
        return surname + self._given_name(female, born)

    def _mobile(self) -> str:
        while True:
            mobile = self.rng.choice(MOBILE_PREFIXES) + f"{self.rng.randrange(10 ** 8):08d}"
            if mobile not in self.mobiles:
                self.mobiles.add(mobile)
                return mobile

    def _id_number(self, region: str, born: date, female: bool) -> str:
        while True:
            gender_digit = self.rng.choice("02468" if female else "13579")
            number = make_id_number(region, born, self.rng.randrange(100) * 10 + int(gender_digit))
            if number not in self.id_numbers:
                self.id_numbers.add(number)
                return number

    def person(self, post: Post, *, check: str | None = None) -> int:
        """A new fictional person fit for the post; `check` forces the check character."""
        female = self.rng.random() >= MALE_SHARE.get(post, 0.02)
        while True:
            born = self._birth_date(post)
            if female and self.minority_names and self.rng.random() < 0.012:
                region = self.rng.choice(names.XINJIANG_CODES)
                name = self.minority_names.pop()
            else:
                region = self.rng.choices(self.places, self.place_weights)[0]
                name = self._name(female, born)
            number = self._id_number(region, born, female)
            if check is None or number.endswith(check):
                break
            self.id_numbers.discard(number)
        self.plan.persons.append(PersonSpec(number, name, self._mobile(), born, female))
        return len(self.plan.persons) - 1

    # -- dates

    def _clamp_start(self, person: int, start: date) -> date:
        adult = add_years(self.plan.persons[person].birth_date, 18)
        return min(max(start, adult), self.plan.today - timedelta(days=1))

    def _days_ago(self, low: int, high: int) -> date:
        return self.plan.today - timedelta(days=self.rng.randint(low, high))

    # -- organisations

    def _credit_code(self, registrar: str, region: str, prefix: str = "") -> str:
        alphabet = "0123456789" if not prefix else _USCC_ALPHABET
        while True:
            body = prefix + "".join(self.rng.choice(alphabet) for _ in range(8 - len(prefix)))
            code = make_credit_code(registrar, region, body)
            if code not in self.credit_codes:
                self.credit_codes.add(code)
                return code

    def _address(self, district_code: str, district_name: str) -> str:
        street = self.rng.choice(names.STREETS[district_code])
        number = self.rng.randint(1, 360)
        building = self.rng.choice(["", "", f"{self.rng.randint(1, 12)}幢",
                                    f"{self.rng.randint(1, 8)}幢{self.rng.randint(1, 3)}层",
                                    f"{self.rng.randint(1, 3)}楼"])
        return f"{CITY}{district_name}{street}{number}号{building}"

    def organisations(self) -> None:
        plan, rng = self.plan, self.rng
        brands = [b for b in names.BRANDS if b not in {"小橡树", "童心"}]
        rng.shuffle(brands)
        # how non-compliant each institution is: the first of 玄武区 (inst_admin's) has
        # visible gaps, the first of 鼓楼区 (inst_admin2's) none, the rest a spread
        rates = [0.0] * 10 + [0.1] * 8 + [0.15] * 5 + [0.3] * 4 + [0.5]
        rng.shuffle(rates)
        rates = [0.2, *rates[:19], 0.0, *rates[19:]]
        for d, (code, district, abbr) in enumerate(DISTRICTS):
            filing_numbers = rng.sample(range(1, 120), INSTITUTIONS_PER_DISTRICT)
            for k in range(INSTITUTIONS_PER_DISTRICT):
                index = d * INSTITUTIONS_PER_DISTRICT + k
                if index == 0:
                    brand, company = "小橡树", False
                elif index == 2 * INSTITUTIONS_PER_DISTRICT:
                    brand, company = "童心", False
                else:
                    brand, company = brands.pop(), rng.random() < 0.35
                if index == 0:
                    name = f"{CITY}{district}{brand}托育中心"
                elif index == 2 * INSTITUTIONS_PER_DISTRICT:
                    name = f"{district}{brand}托育园"
                elif company:
                    name = f"南京{brand}{rng.choice(names.INSTITUTION_SUFFIXES_91)}"
                else:
                    prefix = rng.choice([f"{CITY}{district}", district])
                    name = f"{prefix}{brand}{rng.choice(names.INSTITUTION_SUFFIXES_52)}"
                credit = (self._credit_code("91", code, "MA") if company
                          else self._credit_code("52", code, "MJ"))
                year = plan.today.year - rng.randint(1, 6)
                filing = f"宁卫托备〔{year}〕{abbr}字第{filing_numbers[k]:03d}号"
                plan.orgs.append(OrgSpec(OrgKind.INSTITUTION, name, code, credit,
                                         self._address(code, district), filing, rates[index]))
        for code, district, _ in DISTRICTS:
            plan.orgs.append(OrgSpec(OrgKind.TRAINING_BASE, f"南京市托育从业人员实训基地（{district[:2]}）",
                                     code, self._credit_code("12", "320100"),
                                     self._address(code, district)))
        plan.orgs.append(OrgSpec(OrgKind.HR_BUREAU, "南京市人力资源和社会保障局", "320102",
                                 self._credit_code("11", "320100"), f"{CITY}玄武区北京东路63号"))
        plan.orgs.append(OrgSpec(OrgKind.HEALTH_COMMISSION, "南京市卫生健康委员会", "320106",
                                 self._credit_code("11", "320100"), f"{CITY}鼓楼区紫竹林3号"))

    # -- staff

    def _posts(self, size: int) -> list[Post]:
        rng = self.rng
        posts = [Post.DIRECTOR, Post.HEALTH_CARE, Post.SECURITY]
        if size >= 18 and rng.random() < 0.5:
            posts.append(Post.SECURITY)
        for post, chance in ((Post.FINANCE, 0.6), (Post.FOOD_SAFETY, 0.6), (Post.MEDICAL, 0.3)):
            if rng.random() < chance:
                posts.append(post)
        posts += [Post.EARLY_EDUCATOR] * rng.choice([0, 0, 1, 1, 2])
        carers = [Post.NURSERY_CARER if rng.random() < 0.6 else Post.INFANT_CARER
                  for _ in range(size - len(posts))]
        return [posts[0], Post.NURSERY_CARER, *carers[1:], *posts[1:]]

    def staff(self) -> None:
        plan, rng = self.plan, self.rng
        institutions = plan.orgs_of(OrgKind.INSTITUTION)
        for org in institutions:
            for post in self._posts(rng.randint(15, 23)):
                person = self.person(post)
                low, high = (400, 8 * 365) if post == Post.DIRECTOR else (45, 8 * 365)
                start = self._clamp_start(person, self._days_ago(low, high))
                plan.jobs.append(JobSpec(person, org, post, start))
        plan.caregiver = plan.jobs[1].person  # the first nursery carer of the first institution

        # staff who moved: an earlier, ended employment at another institution
        carers = [j for j in plan.jobs if j.post in {Post.NURSERY_CARER, Post.INFANT_CARER}
                  and j.person != plan.caregiver]
        for job in rng.sample(carers, 15):
            end = job.start - timedelta(days=rng.randint(1, 60))
            start = self._clamp_start(job.person, end - timedelta(days=rng.randint(365, 4 * 365)))
            if start >= end:
                continue
            other = rng.choice([o for o in institutions if o != job.org])
            plan.jobs.append(JobSpec(job.person, other, job.post, start, end,
                                     "转至其他托育机构工作"))

        # former staff, gone from the sector
        for org in institutions:
            for _ in range(rng.choice([0, 1, 1, 2, 2, 3])):
                post = rng.choice([Post.NURSERY_CARER, Post.NURSERY_CARER, Post.INFANT_CARER,
                                   Post.HEALTH_CARE, Post.FOOD_SAFETY])
                person = self.person(post)
                start = self._clamp_start(person, self._days_ago(3 * 365, 8 * 365))
                end = min(start + timedelta(days=rng.randint(180, 3 * 365)),
                          plan.today - timedelta(days=30))
                if end < start:
                    end = start
                reason = rng.choice([r for r in names.END_REASONS if r != "转至其他托育机构工作"])
                plan.jobs.append(JobSpec(person, org, post, start, end, reason))

    # -- the ban

    def ban(self) -> None:
        """A carer dismissed for abuse and banned for life; her number ends in X."""
        plan, rng = self.plan, self.rng
        org = plan.orgs_of(OrgKind.INSTITUTION)[12]  # a 秦淮区 institution
        person = self.person(Post.NURSERY_CARER, check="X")
        start = self._clamp_start(person, self._days_ago(500, 900))
        end = plan.today - timedelta(days=rng.randint(150, 200))
        plan.jobs.append(JobSpec(person, org, Post.NURSERY_CARER, start, end,
                                 "因虐待婴幼儿被解除劳动合同"))
        starts_on = end + timedelta(days=rng.randint(20, 40))
        plan.ban = BanSpec(person, starts_on, "虐待婴幼儿，依法终身禁止从事托育服务工作",
                           f"宁卫监罚〔{starts_on.year}〕{rng.randint(8, 40)}号")

    # -- qualifications

    def _certificate_no(self, code: str, issued: date) -> str:
        self.certificate_seq += 1
        seq = self.certificate_seq
        return {
            "baoyushi": f"3201{issued.year}05{seq:06d}",
            "yuyingyuan": f"3201{issued.year}07{seq:06d}",
            "yingyouer_fazhan": f"3201{issued.year}09{seq:06d}",
            "director_training": f"NJTYFZR{issued.year}{seq:04d}",
            "baojian_training": f"NJFYBJ{issued.year}{seq:04d}",
            "baoan": f"苏宁{issued.year}{seq:06d}",
            "medical_licence": f"{issued.year}32{seq:08d}",
            "food_safety": f"NJSJ{issued.year}{seq:05d}",
            "teacher_cert": f"{issued.year}3201{seq:09d}",
        }[code]

    def _issuer(self, code: str) -> str:
        if code in ISSUERS:
            return ISSUERS[code]
        bases = [self.plan.orgs[i].name for i in self.plan.orgs_of(OrgKind.TRAINING_BASE)]
        return self.rng.choice([*bases, "南京市职业技能鉴定指导中心"])

    def _level(self, code: str) -> int | None:
        if code not in {"baoyushi", "yuyingyuan", "yingyouer_fazhan"}:
            return None
        level = self.rng.choices([lv for lv, _ in LEVEL_WEIGHTS], [w for _, w in LEVEL_WEIGHTS])[0]
        # 婴幼儿发展引导员 starts at 四级 (its 2021 standard has no 五级)
        return min(level, 4) if code == "yingyouer_fazhan" else level

    def _add(self, person: int, code: str, issued: date, expires: date | None = None) -> None:
        self.plan.quals.append(QualSpec(person, code, issued, self._level(code), expires,
                                        self._certificate_no(code, issued), self._issuer(code)))

    def _qualify(self, job: JobSpec, *, expired: bool = False) -> bool:
        """Give the person the certificate the post asks for (valid, or expired)."""
        rng, today = self.rng, self.plan.today
        adult = add_years(self.plan.persons[job.person].birth_date, 18)
        code = POST_QUALIFICATION.get(job.post)
        if code is None:
            return False
        if job.post == Post.EARLY_EDUCATOR and rng.random() < 0.4:
            code = "yingyouer_fazhan"
        years = VALID_YEARS.get(code)
        if expired:
            if years is None:
                return False
            issued = today - timedelta(days=365 * years + rng.randint(30, 400))
            if issued < adult:
                return False
            self._add(job.person, code, issued, issued + timedelta(days=365 * years - 1))
            return True
        if years is None:
            issued = job.start - timedelta(days=rng.randint(-90, 3 * 365))
        else:  # renewed: issued within its validity
            issued = today - timedelta(days=rng.randint(20, 365 * years - 60))
        issued = min(max(issued, adult), today - timedelta(days=1))
        expires = issued + timedelta(days=365 * years - 1) if years else None
        self._add(job.person, code, issued, expires)
        return True

    def qualifications(self) -> None:
        plan, rng = self.plan, self.rng
        required = {post for post, _, _ in registry.DEFAULT_POST_RULES}
        current = [j for j in plan.jobs if j.end is None]
        by_org: dict[int, list[JobSpec]] = {}
        for job in current:
            by_org.setdefault(job.org, []).append(job)
        for org, jobs in by_org.items():
            rate = plan.orgs[org].noncompliance
            candidates = [j for j in jobs if j.post in required and j.person != plan.caregiver]
            count = min(len(candidates), max(1, round(rate * len(jobs)))) if rate else 0
            plan.noncompliant |= {j.person for j in rng.sample(candidates, count)}
        for job in current:
            if job.person not in plan.noncompliant:
                self._qualify(job)
                if job.post == Post.DIRECTOR and rng.random() < 0.5:
                    self._qualify(JobSpec(job.person, job.org, Post.NURSERY_CARER, job.start))
                elif job.post == Post.NURSERY_CARER and rng.random() < 0.15:
                    self._qualify(JobSpec(job.person, job.org, Post.INFANT_CARER, job.start))
                elif job.post == Post.INFANT_CARER and rng.random() < 0.1:
                    self._qualify(JobSpec(job.person, job.org, Post.NURSERY_CARER, job.start))
                continue
            mode = rng.random()
            if mode < 0.3 and self._qualify(job, expired=True):
                continue
            if mode < 0.55 and job.post in {Post.NURSERY_CARER, Post.INFANT_CARER}:
                # holds the other carers' certificate, which does not satisfy this post
                other = (Post.INFANT_CARER if job.post == Post.NURSERY_CARER
                         else Post.NURSERY_CARER)
                self._qualify(JobSpec(job.person, job.org, other, job.start))
            # otherwise: no certificate at all
        working = {j.person for j in current}
        for job in plan.jobs:
            if job.end is not None and job.person not in working and rng.random() < 0.7:
                self._qualify(JobSpec(job.person, job.org, job.post, job.start))
        # the demo caregiver sits 育婴员 五级 next week, so she holds no 育婴员 level yet (someone
        # who does is registered only after the base confirms); dropped after the draws, so the
        # rest of the city stays as it was
        plan.quals = [q for q in plan.quals if not (q.person == plan.caregiver and q.code == "yuyingyuan")]


    # -- health checks and certificates of no criminal record

    def staff_records(self) -> None:
        """Most current staff hold a current health check and a certificate of no criminal
        record; some checks have lapsed, a few people have none, one check found someone not
        fit. Drawn from a generator of their own, so the rest of the city stays as it was."""
        plan = self.plan
        rng = random.Random(SEED + 14)
        today = plan.today
        oldest = add_years(today, -STAFF_RECORD_YEARS) + timedelta(days=1)
        current = sorted((j for j in plan.jobs if j.end is None), key=lambda j: (j.org, j.person))
        unfit_done = False
        for job in current:
            spec = plan.persons[job.person]
            adult = add_years(spec.birth_date, 18)
            draw = rng.random()
            if job.person == plan.caregiver:
                draw = 0.0  # the demo caregiver's record is in order
            if draw < 0.72:  # in order
                checked = today - timedelta(days=rng.randint(10, 330))
            elif draw < 0.86:  # the yearly check has lapsed
                checked = today - timedelta(days=rng.randint(380, 600))
            elif draw < 0.93:  # a certificate of no criminal record only
                checked = None
            else:  # nothing recorded yet
                continue
            if checked is not None and checked >= max(adult, oldest):
                hospital = rng.choice(HEALTH_CHECK_ISSUERS[plan.orgs[job.org].district_code])
                result = "fit"
                if not unfit_done and draw > 0.7 and job.post in {Post.NURSERY_CARER,
                                                                  Post.INFANT_CARER}:
                    result, unfit_done = "unfit", True
                plan.records.append(RecordSpec(
                    job.person, job.org, "health_check", checked, hospital, result,
                    f"TJ{checked:%Y%m%d}{rng.randrange(10 ** 4):04d}"))
            if draw < 0.93 and rng.random() < 0.95:
                issued = job.start - timedelta(days=rng.randint(7, 60))
                issued = min(max(issued, adult, oldest), today - timedelta(days=1))
                police = CRIMINAL_RECORD_ISSUERS[plan.orgs[job.org].district_code]
                plan.records.append(RecordSpec(
                    job.person, job.org, "no_criminal_record", issued, police, None,
                    f"宁公证〔{issued.year}〕{rng.randrange(10 ** 5):05d}号"))

    def below_the_level(self) -> None:
        """A few early educators without a certificate hold 育婴员 五级, below the 四级 the
        demo's post rule asks (DEMO_POST_RULES): the compliance pages show a level too low."""
        plan = self.plan
        rng = random.Random(SEED + 15)
        for job in sorted(plan.jobs, key=lambda j: j.person):
            if (job.end is None and job.post == Post.EARLY_EDUCATOR
                    and job.person in plan.noncompliant and rng.random() < 0.7):
                issued = min(job.start + timedelta(days=rng.randint(30, 400)),
                             plan.today - timedelta(days=30))
                self.certificate_seq += 1
                plan.quals.append(QualSpec(job.person, "yuyingyuan", issued, 5, None,
                                           f"3201{issued.year}07{self.certificate_seq:06d}",
                                           "南京市职业技能鉴定指导中心"))


def plan_city(today: date | None = None) -> CityPlan:
    """The whole city as plain data (no database): the same on every machine for a date."""
    planner = _Planner(today or local_today())
    planner.organisations()
    planner.staff()
    planner.ban()
    planner.qualifications()
    planner.below_the_level()
    planner.staff_records()
    planner.plan.jobs.sort(key=lambda j: (j.start, j.person))
    return planner.plan


# --- building it through the services -------------------------------------------------------------


def build_demo_city(today: date | None = None) -> dict:
    """Create the demo city once (flushes, never commits); again, it changes nothing."""
    plan = plan_city(today)
    marker = plan.orgs[0].credit_code
    if db.session.scalar(select(Organisation.id).where(Organisation.credit_code == marker)):
        return {"created": False}

    registry.ensure_reference_data()
    qtypes = {q.code: q for q in db.session.scalars(select(QualificationType))}

    districts: dict[str, District] = {}
    for code, name, _ in DISTRICTS:
        district = db.session.scalar(select(District).where(District.code == code))
        if district is None:
            district = District(code=code, name=name, city=CITY)
            db.session.add(district)
        districts[code] = district
    db.session.flush()

    orgs = [registry.create_organisation(
        ACTOR, kind=o.kind.value, name=o.name, district=districts[o.district_code],
        credit_code=o.credit_code, filing_no=o.filing_no, address=o.address)
        for o in plan.orgs]

    persons = {}
    ended = 0
    for job in plan.jobs:
        spec = plan.persons[job.person]
        added = registry.add_staff(
            ACTOR, orgs[job.org], id_number=spec.id_number, name=spec.name, mobile=spec.mobile,
            post=job.post, start_date=job.start, is_direct_manager=job.post == Post.DIRECTOR)
        persons[job.person] = added.employment.person
        if job.end is not None:
            registry.end_employment(ACTOR, added.employment, job.end, job.end_reason)
            ended += 1

    _demo_direct_managers(plan, orgs)

    for q in plan.quals:
        registry.add_qualification(
            ACTOR, persons[q.person], qtypes[q.code], issued_on=q.issued, level=q.level,
            expires_on=q.expires, certificate_no=q.certificate_no, issuer=q.issuer)

    rules = {tuple(row) for row in db.session.execute(
        select(PostRequirement.post, PostRequirement.qualification_type_id))}
    for post, code, level in DEMO_POST_RULES:
        if (post.value, qtypes[code].id) not in rules:
            registry.add_post_requirement(ACTOR, post, qtypes[code], level)

    for r in sorted(plan.records, key=lambda r: (r.issued, r.person, r.kind)):
        registry.record_staff_record(ACTOR, orgs[r.org], persons[r.person], kind=r.kind,
                                     issued_on=r.issued, result=r.result, issuer=r.issuer,
                                     document_no=r.document_no)

    banned = plan.persons[plan.ban.person]
    registry.record_ban(ACTOR, id_number=banned.id_number, name=banned.name,
                        kind=BanKind.LIFETIME.value, starts_on=plan.ban.starts_on, ends_on=None,
                        reason=plan.ban.reason, decision_ref=plan.ban.decision_ref)

    logins = _create_users(plan, orgs, districts)

    caregiver = plan.persons[plan.caregiver]
    account = db.session.scalar(select(User).where(User.person_id == persons[plan.caregiver].id))
    account.password_hash = generate_password_hash(PASSWORD)
    account.must_change_password = False
    db.session.flush()

    learning = build_demo_learning(plan, persons, today or local_today())
    learning.update(build_demo_sessions(plan, persons, today or local_today()))
    learning.update(build_demo_exams(plan, persons, today or local_today()))
    learning.update(build_demo_subsidies(today or local_today()))
    # the compliance dashboard reads snapshots: compute them once, as the scheduled job will
    from lms.compliance import rollups
    rollups.refresh(ACTOR, full=True)

    return {
        "created": True,
        "districts": len(DISTRICTS),
        "institutions": len(plan.orgs_of(OrgKind.INSTITUTION)),
        "bases": len(plan.orgs_of(OrgKind.TRAINING_BASE)),
        "persons": len(persons),
        "employments": len(plan.jobs),
        "ended_employments": ended,
        "qualifications": len(plan.quals),
        "staff_records": len(plan.records),
        "noncompliant_staff": len(plan.noncompliant),
        "bans": 1,
        "logins": logins,
        "password": PASSWORD,
        "caregiver_mobile": caregiver.mobile,
        "caregiver_name": caregiver.name,
        "banned_id_number": banned.id_number,
        "banned_name": banned.name,
        **learning,
    }


def _demo_direct_managers(plan: CityPlan, orgs: list[Organisation]) -> int:
    """Each institution's current staff are managed directly by its current 专职负责人, from the
    later of the two start dates (so a child-abuse ban in the demo lists a real manager)."""
    added = 0
    for org in orgs:
        if org.kind != OrgKind.INSTITUTION.value:
            continue
        current = list(db.session.scalars(
            select(Employment).where(Employment.organisation_id == org.id,
                                     Employment.end_date.is_(None)).order_by(Employment.id)))
        directors = [e for e in current if e.post == Post.DIRECTOR.value]
        if not directors:
            continue
        director = directors[0]
        for employment in current:
            if employment.person_id == director.person_id:
                continue
            registry.set_direct_manager(ACTOR, employment, director,
                                        max(employment.start_date, director.start_date))
            added += 1
    return added


# --- courses, study and class hours ----------------------------------------------------------------

#: the whole of the one page a demo evidence file has (a real, if tiny, PDF)
DEMO_EVIDENCE = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
                 b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
                 b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 100]>>endobj\n"
                 b"trailer<</Root 1 0 R>>\n%%EOF\n")
DEMO_PROVIDER = "江苏省托育从业人员继续教育平台（演示）"


def import_demo_courses() -> None:
    """The shipped courses (an unchanged course is left as it is)."""
    from lms.catalog.service import import_courses
    from lms.config import ROOT
    from lms.core.actors import DEMO

    import_courses(DEMO, ROOT / "courses")


def import_demo_exam_bank() -> None:
    """The sample 育婴员 exam bank: exams never draw from the courses' self-check questions."""
    from lms.catalog.exam_bank import import_exam_banks
    from lms.config import ROOT

    import_exam_banks(ACTOR, ROOT / "exam-banks" / "yuyingyuan-sample.toml")


def build_demo_learning(plan: CityPlan, persons: dict, today: date) -> dict:
    """Hours for the demo staff, as they would have arrived: about two thirds have hours from
    the provincial platform (recorded by the administrator, with evidence; those above the
    confirmation threshold confirmed by the city's regulator, the last few still waiting), and
    the demo caregiver has studied online here, through the same study clock a phone uses."""
    from datetime import UTC, datetime, time

    from lms.catalog.service import course_by_code
    from lms.core.actors import DEMO
    from lms.core.clock import zone
    from lms.learning import service as learning
    from lms.learning.models import StudyClock
    from lms.ledger import service as ledger
    from lms.ledger.models import ExternalAction, ExternalState

    import_demo_courses()
    rng = random.Random(20261129)  # noqa: S311 - demo data, reproducible
    recorder = db.session.scalar(select(User).where(User.username == "admin"))
    confirmer = db.session.scalar(select(User).where(User.username == "regulator_city"))
    caregiver = persons[plan.caregiver]
    records = []
    for index, person in sorted(persons.items()):
        if index == plan.caregiver or rng.random() > 0.65:
            continue
        done = rng.random() < 0.45  # about a third of all staff have the year's hours already
        ranges = (("skills", 72, 78), ("ethics", 40, 42)) if done else (("skills", 6, 70), ("ethics", 4, 38))
        for category, low, high in ranges:
            hours = rng.randint(low * 2, high * 2) / 2
            records.append(ledger.record_external(
                recorder, person, year=today.year, category=category, hours=str(hours),
                provider=DEMO_PROVIDER, reference=f"JS{today.year}-{person.id:06d}-{category[0]}",
                evidence_name="培训证明.pdf", evidence=DEMO_EVIDENCE, today=today))
    pending = [r for r in records if r.state == ExternalState.PENDING]
    for record in pending[:-3]:  # the last three wait in the regulators' queue
        ledger.decide_external(confirmer, record, ExternalAction.CONFIRM)
    recorded = sum(1 for r in records if r.state == ExternalState.CONFIRMED)

    # the demo caregiver: two courses, two lessons studied through, a third begun
    infant = course_by_code("YY-101")
    ethics = course_by_code("DD-101")
    learning.enrol(DEMO, caregiver, infant)
    learning.enrol(DEMO, caregiver, ethics)
    day = max(date(today.year, 1, 2), today - timedelta(days=12))
    for number, (lesson, minutes) in enumerate(
            [(infant.lessons[0], 45), (infant.lessons[1], 45), (infant.lessons[2], 20),
             (ethics.lessons[0], 45)]):
        local = datetime.combine(day + timedelta(days=number), time(19, 30), tzinfo=zone())
        start = local.astimezone(UTC).replace(tzinfo=None)
        clock = learning.start_study(DEMO, caregiver, lesson, device="演示：手机浏览器", now=start)
        token, beat = clock.token, 0
        # two beats more than the minutes need: the seconds spent answering are not study
        for beat in range(1, minutes * 4 + 3):
            at = start + timedelta(seconds=15 * beat)
            result = learning.heartbeat(DEMO, caregiver.id, token, beat, now=at)
            if result.state == "challenge":  # the learner reads the question and answers it
                answer = db.session.get(StudyClock, caregiver.id, populate_existing=True).challenge_key
                learning.answer_challenge(DEMO, caregiver.id, token, answer,
                                          now=at + timedelta(seconds=rng.randint(5, 12)))
        learning.heartbeat(DEMO, caregiver.id, token, beat + 1, active=False,
                           now=start + timedelta(minutes=minutes, seconds=60))
        if minutes == lesson.minutes:
            questions = learning.self_check_questions(caregiver, lesson)
            learning.submit_self_check(DEMO, caregiver, lesson, {q.id: list(q.answer) for q in questions},
                                       now=start + timedelta(minutes=minutes + 5))
    return {"external_hours_records": recorded}


def _short(name: str) -> str:
    """小橡树托育中心 from 南京市玄武区小橡树托育中心."""
    for _, district, _ in DISTRICTS:
        name = name.replace(f"{CITY}{district}", "").replace(district, "")
    return name.removeprefix(CITY).removeprefix("南京")


def _create_users(plan: CityPlan, orgs: list[Organisation],
                  districts: dict[str, District]) -> dict[str, str]:
    """One staff account per role; a sign-in name already taken is left as it is."""
    institutions = plan.orgs_of(OrgKind.INSTITUTION)
    first_gulou = next(i for i in institutions if plan.orgs[i].district_code == "320106")
    base = plan.orgs_of(OrgKind.TRAINING_BASE)[0]
    hr = plan.orgs_of(OrgKind.HR_BUREAU)[0]
    wanted = [
        ("admin", "系统管理员", Role.ADMIN, None, None),
        ("inst_admin", f"{_short(plan.orgs[institutions[0]].name)}管理员",
         Role.INSTITUTION_ADMIN, institutions[0], None),
        ("inst_admin2", f"{_short(plan.orgs[first_gulou].name)}管理员",
         Role.INSTITUTION_ADMIN, first_gulou, None),
        ("base_staff", "实训基地（玄武）工作人员", Role.BASE_STAFF, base, None),
        ("hr_reviewer", "人社局审核员", Role.HR_REVIEWER, hr, None),
        ("regulator", "玄武区卫健委监管员", Role.REGULATOR, None, "320102"),
        ("regulator_city", "南京市卫健委监管员", Role.REGULATOR, None, None),
    ]
    logins = {}
    for username, display, role, org, district in wanted:
        taken = db.session.scalar(select(User.id).where(User.username == username))
        if taken is None:
            auth_service.create_staff_user(
                ACTOR, username=username, display_name=display, role=role.value,
                organisation_id=orgs[org].id if org is not None else None,
                district_id=districts[district].id if district else None, password=PASSWORD)
        logins[username] = display
    return logins


def build_demo_sessions(plan: CityPlan, persons: dict, today: date) -> dict:
    """The first training base's timetable: venues, instructors, a session last week that
    the demo caregiver attended (credited), and the coming weeks' sessions, one booked."""
    from datetime import datetime, time

    from lms.catalog.service import course_by_code
    from lms.core.actors import DEMO
    from lms.core.clock import to_utc
    from lms.scheduling import service as scheduling

    base = db.session.scalar(select(Organisation).where(Organisation.kind == OrgKind.TRAINING_BASE.value)
                             .order_by(Organisation.id))
    staff = db.session.scalar(select(User).where(User.username == "base_staff"))
    room = scheduling.add_venue(staff, base, "一号实训室", base.address)
    hall = scheduling.add_venue(staff, base, "多功能报告厅", base.address)
    li = scheduling.add_instructor(staff, base, "李雅琴")
    zhou = scheduling.add_instructor(staff, base, "周文博")
    caregiver = persons[plan.caregiver]
    courses = {code: course_by_code(code) for code in ("YY-101", "BY-101", "BJ-101", "DD-101")}

    def session(code, kind, venue, teacher, day, start, hours, seats, **kw):
        starts = datetime.combine(day, time(start))
        return scheduling.schedule(staff, base, scheduling.SessionPlan(
            course=courses[code], kind=kind, venue=venue, instructor=teacher, starts_at=starts,
            ends_at=starts + timedelta(hours=hours), capacity=seats, class_hours=str(hours), **kw),
            now=to_utc(starts) - timedelta(days=14))

    last_week = today - timedelta(days=7)
    past = session("BJ-101", "practical", room, li, last_week, 9, 3, 20)[0]
    # the caregiver's own moves, made for them by the demo builder
    scheduling.book(DEMO, caregiver, past, now=past.starts_at - timedelta(days=3))
    scheduling.check_in(DEMO, caregiver, past, scheduling.attendance_code(past, past.starts_at),
                        now=past.starts_at)
    scheduling.close_session(staff, past, now=past.ends_at + timedelta(minutes=10))
    upcoming = [
        session("YY-101", "theory", hall, zhou, today + timedelta(days=3), 14, 2, 60),
        session("BY-101", "practical", room, li, today + timedelta(days=5), 9, 3, 12,
                requires_online=True),
        session("BJ-101", "practical", room, li, today + timedelta(days=8), 9, 3, 12),
        session("DD-101", "theory", hall, zhou, today + timedelta(days=10), 14, 2, 80),
        session("YY-101", "practical", room, zhou, today + timedelta(days=4), 9, 3, 16, repeat_weeks=3),
    ]
    scheduling.book(DEMO, caregiver, upcoming[0][0])
    return {"sessions": 1 + sum(len(s) for s in upcoming)}


def build_demo_exams(plan: CityPlan, persons: dict, today: date) -> dict:
    """A 育婴员 (level 5) sitting at the first base next week with the demo caregiver, who
    completed the course it needs, registered; base_staff is its examiner."""
    from datetime import datetime, time

    from lms.exams import service as exams
    from lms.learning.models import Enrolment

    base = db.session.scalar(select(Organisation).where(Organisation.kind == OrgKind.TRAINING_BASE.value)
                             .order_by(Organisation.id))
    staff = db.session.scalar(select(User).where(User.username == "base_staff"))
    caregiver = persons[plan.caregiver]
    qtype = db.session.scalar(select(QualificationType).where(QualificationType.code == "yuyingyuan"))
    import_demo_exam_bank()
    sitting = exams.plan_sitting(staff, base, exams.SittingPlan(
        qualification_type=qtype, level=5, starts_at=datetime.combine(today + timedelta(days=6), time(9)),
        duration_minutes=60, venue="多功能报告厅", examiners=[staff],
        blueprint={"single": 12, "multiple": 4, "truefalse": 4}))
    from lms.catalog.service import course_by_code
    infant = course_by_code("YY-101")
    enrolment = db.session.scalar(select(Enrolment).where(Enrolment.person_id == caregiver.id,
                                                          Enrolment.course_id == infant.id))
    if enrolment.completed_at is None:  # the demo caregiver finished YY-101 on a course elsewhere
        enrolment.completed_at = enrolment.enrolled_at
    exams.register(staff, sitting, caregiver)
    issued = _demo_certificates(staff, base, qtype, infant, persons, plan, today)
    return {"exam_sittings": 2, "certificates": issued}


def _demo_certificates(staff, base, qtype, course, persons, plan, today) -> int:
    """A sitting held last month whose candidates passed and hold their 育婴员 certificates
    (people already certified for their posts, so the demo's compliance figures stay)."""
    from datetime import datetime, time
    from decimal import Decimal

    from lms.certificates import service as certificates
    from lms.core.clock import to_utc
    from lms.exams import service as exams
    from lms.learning.models import Enrolment

    held = datetime.combine(today - timedelta(days=30), time(9))
    sitting = exams.plan_sitting(staff, base, exams.SittingPlan(
        qualification_type=qtype, level=5, starts_at=held, duration_minutes=60, venue="多功能报告厅",
        examiners=[staff], blueprint={"single": 12, "multiple": 4, "truefalse": 4}),
        now=to_utc(held) - timedelta(days=7))
    current = [e for p in persons.values() for e in p.employments if e.end_date is None]
    checks = registry.check_posts(current)
    ready = sorted({e.person_id for e in current if checks[e.id].satisfied and not checks[e.id].needs_nothing})
    chosen = [p for p in persons.values() if p.id in ready and p.id != persons[plan.caregiver].id][:3]
    for n, person in enumerate(chosen):
        db.session.add(Enrolment(person_id=person.id, course_id=course.id,
                                 enrolled_at=to_utc(held) - timedelta(days=40),
                                 completed_at=to_utc(held) - timedelta(days=10)))
        # one of them already holds a higher 育婴员 level: the base confirmed registering them
        registration = exams.register(staff, sitting, person, now=to_utc(held) - timedelta(days=3),
                                      confirm_lower_level=True)
        registration.theory_score = Decimal(78 + 5 * n)
        exams.enter_practical(staff, registration, str(80 + 4 * n), now=to_utc(held) + timedelta(hours=2))
        certificates.issue(staff, registration, today=today - timedelta(days=25))
    return len(chosen)


def build_demo_subsidies(today: date) -> dict:
    """Last month's sitting, claimed for by its base: one holder's claim approved and in the
    public notice, another confirmed and waiting in the HR queue; the third already holds a
    higher 育婴员 level, so the sitting's claim page shows why there is no subsidy for them."""
    from lms.certificates.models import Certificate
    from lms.exams.models import Registration
    from lms.subsidies import service as subsidies
    from lms.subsidies.models import ClaimAction

    subsidies.ensure_standards()
    staff = db.session.scalar(select(User).where(User.username == "base_staff"))
    hr = db.session.scalar(select(User).where(User.username == "hr_reviewer"))
    held = db.session.scalars(select(Certificate).order_by(Certificate.id)).all()
    sitting = db.session.get(Registration, held[0].registration_id).sitting
    claims = subsidies.submit_for_sitting(staff, sitting, [c.id for c in held],
                                          bank_name="中国建设银行南京玄武支行",
                                          bank_account="32050159360009876543", today=today)
    subsidies.transition(hr, claims[0], ClaimAction.APPROVE, today=today)
    subsidies.publish(hr, [claims[0].id], today=today)
    return {"subsidy_claims": len(claims)}
