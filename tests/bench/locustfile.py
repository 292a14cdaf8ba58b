"""A city on loopback, for locust (https://locust.io): run it with tests/bench/run_locust.py,
which prepares the database and the servers and passes the world in LMS_LOCUST_WORLD.

Who is simulated (weights are shares of the users locust spawns; check-in users are a fixed
crowd):

- caregivers studying a lesson on their phones: a study heartbeat every few seconds, now and
  then a look at their home page, their hours or the course list;
- a training base's session starting: its trainer's screen polls the rotating check-in code,
  and 300 booked caregivers check in by scanning it, all within about a minute;
- HR reviewers working the subsidy queue (the queue, a claim, the payment export);
- regulators on their lists and dashboards (institutions, an institution's staff hours);
- the public verifying certificates by the code on the QR.

Every simulated person comes from an address of their own (X-Forwarded-For through the
one-proxy setting, LMS_PROXIES=1), so the per-address limits behave as in a city.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import re
import threading
import time
import urllib.parse

from locust import HttpUser, between, constant_pacing, events, task

WORLD = json.loads(os.environ.get("LMS_LOCUST_WORLD", "{}"))
PASSWORD = WORLD.get("password", "bench-Pass1")  # caregivers'
STAFF_PASSWORD = WORLD.get("staff_password", PASSWORD)  # base, HR, regulator accounts
_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
_studying = itertools.count(WORLD.get("studying_from", 0))
_checking_in = itertools.count(WORLD.get("checkin_from", 0))
_lock = threading.Lock()
CHECKIN = {"code": None, "times": []}


@events.test_stop.add_listener
def _checkin_window(**_kwargs):
    times = sorted(CHECKIN["times"])
    if times:
        print(f"check-in: {len(times)} people checked in within {times[-1] - times[0]:.1f} s "
              "of the first", flush=True)


def _address() -> str:
    return f"10.{random.randint(0, 255)}.{random.randint(0, 255)}.{random.randint(1, 254)}"


class Person(HttpUser):
    abstract = True

    def on_start(self):
        self.client.headers["X-Forwarded-For"] = _address()

    def sign_in(self, identifier: str, password: str = PASSWORD) -> None:
        page = self.client.get("/login", name="/login")
        token = _CSRF.search(page.text).group(1)
        with self.client.post("/login", data={"csrf_token": token, "identifier": identifier,
                                              "password": password},
                              allow_redirects=False, name="/login [POST]",
                              catch_response=True) as response:
            if response.status_code != 302:
                response.failure(f"sign-in refused: {response.status_code}")


class Caregiver(Person):
    """Studies a lesson on a phone: a heartbeat every few seconds, sometimes browses."""

    weight = 40
    wait_time = constant_pacing(WORLD.get("heartbeat_seconds", 5))

    def on_start(self):
        super().on_start()
        with _lock:
            n = next(_studying)
        self.sign_in(f"139{n:08d}")
        lesson = WORLD["lesson_id"]
        page = self.client.get(f"/learn/lessons/{lesson}", name="/learn/lessons/[id]")
        self.csrf = re.search(r'data-csrf="([^"]+)"', page.text).group(1)
        started = self.client.post(f"/learn/lessons/{lesson}/start", json={},
                                    headers={"X-CSRFToken": self.csrf},
                                    name="/learn/lessons/[id]/start")
        self.token, self.seq = started.json()["token"], 0

    @task(12)
    def heartbeat(self):
        self.seq += 1
        with self.client.post("/learn/heartbeat", json={"token": self.token, "seq": self.seq,
                                                        "active": True},
                              headers={"X-CSRFToken": self.csrf}, name="/learn/heartbeat",
                              catch_response=True) as response:
            if response.status_code != 200 or b"superseded" in response.content:
                response.failure(f"heartbeat: {response.status_code} {response.text[:80]}")

    @task(1)
    def browse(self):
        path, name = random.choice([("/", "/"), ("/hours", "/hours"),
                                    ("/courses", "/courses")])
        self.client.get(path, name=name)


class Trainer(Person):
    """The base's screen at the door: shows the rotating check-in code."""

    fixed_count = 1
    wait_time = constant_pacing(5)

    def on_start(self):
        super().on_start()
        self.sign_in("base_staff", STAFF_PASSWORD)
        self.poll()

    @task
    def poll(self):
        response = self.client.get(f"/sessions/{WORLD['session_id']}/qr.json",
                                   name="/sessions/[id]/qr.json")
        if response.status_code == 200:
            link = urllib.parse.urlparse(response.json()["link"])
            CHECKIN["code"] = urllib.parse.parse_qs(link.query)["code"][0]


class CheckingIn(Person):
    """One of the 300 booked caregivers arriving at the session: scans the code, checks in."""

    fixed_count = WORLD.get("checkin_count", 300)

    def wait_time(self):
        return 600 if self.done else random.uniform(0.5, 1.5)  # once in, they sit down

    def on_start(self):
        super().on_start()
        with _lock:
            self.n = next(_checking_in)
        self.sign_in(f"139{self.n:08d}")
        self.done = False

    @task
    def check_in(self):
        if self.done or not CHECKIN["code"]:
            return
        path = f"/sessions/{WORLD['session_id']}/attend"
        page = self.client.get(f"{path}?code={CHECKIN['code']}", name="/sessions/[id]/attend")
        token = _CSRF.search(page.text)
        with self.client.post(path, data={"csrf_token": token.group(1) if token else "",
                                          "code": CHECKIN["code"]},
                              allow_redirects=False, name="/sessions/[id]/attend [POST]",
                              catch_response=True) as response:
            if response.status_code != 302:
                response.failure(f"check-in refused: {response.status_code}")
            else:
                self.done = True
                CHECKIN["times"].append(time.time())
                events.request.fire(request_type="CHECKIN", name="checked in", response_time=0,
                                    response_length=0, exception=None, context={})


class HrReviewer(Person):
    weight = 1
    wait_time = between(2, 6)

    def on_start(self):
        super().on_start()
        self.sign_in("hr_reviewer", STAFF_PASSWORD)

    @task(5)
    def queue(self):
        self.client.get("/subsidies/review", name="/subsidies/review")

    @task(1)
    def export(self):
        self.client.get("/subsidies/review/export.xlsx", name="/subsidies/review/export.xlsx")


class Regulator(Person):
    weight = 2
    wait_time = between(2, 6)

    def on_start(self):
        super().on_start()
        self.sign_in("regulator_city", STAFF_PASSWORD)

    @task(3)
    def institutions(self):
        self.client.get("/registry/institutions", name="/registry/institutions")

    @task(1)
    def staff_hours(self):
        self.client.get(f"/institutions/{WORLD['institution_id']}/hours",
                        name="/institutions/[id]/hours")


class Public(Person):
    weight = 4
    wait_time = between(1, 4)

    @task
    def verify(self):
        code = random.choice(WORLD["verify_codes"])
        self.client.get(f"/verify/{code}", name="/verify/[code]")
