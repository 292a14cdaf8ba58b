"""The catalogue as learners see it, and the study pages (mostly used on phones)."""

from __future__ import annotations

from flask import (
    Blueprint,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from lms.auth.models import Role
from lms.catalog import service as catalog
from lms.catalog.models import Course, Lesson, Track
from lms.core import settings
from lms.core.clock import local_today
from lms.core.errors import DomainError, PermissionDenied
from lms.core.navigation import HomeSection, NavEntry
from lms.core.permissions import load, permission
from lms.core.web import service_call
from lms.extensions import csrf, db, limiter
from lms.learning import service
from lms.learning.permissions import can_browse_courses, can_study
from lms.ledger.models import LedgerEntry
from lms.ledger.permissions import can_view_person_hours
from lms.registry.models import Person

bp = Blueprint("learning", __name__, template_folder="templates")


def _me() -> Person:
    return db.session.get(Person, current_user.person_id)


@bp.get("/courses")
@permission(can_browse_courses)
def catalogue():
    track = request.args.get("track") or None
    q = (request.args.get("q") or "").strip()
    courses = catalog.active_courses(track=track, search=q)
    enrolled, progress = {}, {}
    if can_study(current_user):
        me = _me()
        enrolled = {enrolment.course_id: enrolment for enrolment in service.my_enrolments(me)}
        progress = {c.id: service.course_progress(me, c, enrolled[c.id]) for c in courses if c.id in enrolled}
    return render_template("learning/catalogue.html", courses=courses, tracks=list(Track),
                           track=track, q=q, enrolled=enrolled, progress=progress)


@bp.get("/courses/<int:course_id>")
@permission(can_browse_courses, course=load(Course, "course_id"))
def course_detail(course):
    context = {"course": course, "serves": catalog.qualification_names(course.serves),
               "prerequisites": [c for c in (catalog.course_by_code(code) for code in course.prerequisites) if c],
               "enrolment": None, "progress": {}, "summary": None, "missing": []}
    if can_study(current_user):
        me = _me()
        context["enrolment"] = service.enrolment_for(me, course)
        context["progress"] = service.progress_for(me, course.lessons)
        context["summary"] = service.course_progress(me, course)
        context["missing"] = service.missing_prerequisites(me, course)
    return render_template("learning/course.html", **context)


@bp.post("/courses/<int:course_id>/enrol")
@permission(can_study, course=load(Course, "course_id"))
def enrol(course):
    _enrolment, err = service_call(service.enrol, current_user, _me(), course)
    if err is not None:
        flash(str(err), "danger")
    else:
        flash(_("You are enrolled. Start with the first lesson."), "success")
    return redirect(url_for("learning.course_detail", course_id=course.id))


@bp.get("/learn")
@permission(can_study)
def my_courses():
    me = _me()
    enrolments = service.my_enrolments(me)
    return render_template("learning/my_courses.html", enrolments=enrolments,
                           progress={e.course_id: service.course_progress(me, e.course, e) for e in enrolments})


@bp.get("/learn/lessons/<int:lesson_id>")
@permission(can_study, lesson=load(Lesson, "lesson_id"))
def study(lesson):
    me = _me()
    course = lesson.course
    refused = _refused(me, lesson)
    if refused is not None:
        return refused
    lessons = course.lessons
    index = next(i for i, item in enumerate(lessons) if item.id == lesson.id)
    progress = service.progress_for(me, [lesson]).get(lesson.id)
    html = catalog.lesson_html(lesson, lambda path: url_for(
        "catalog.asset", course_id=course.id, path=path))
    today = local_today()
    return render_template(
        "learning/study.html", lesson=lesson, course=course, html=html, progress=progress,
        previous=lessons[index - 1] if index > 0 else None,
        next=lessons[index + 1] if index + 1 < len(lessons) else None,
        position=index + 1, count=len(lessons),
        heartbeat_seconds=current_app.config["STUDY_HEARTBEAT_SECONDS"],
        idle_seconds=settings.get_setting("learning.idle_minutes", None, today) * 60)


def _refused(me: Person, lesson: Lesson):
    """The study gate (service.study_access) as a page sees it: back to the course, saying why."""
    try:
        service.study_access(me, lesson)
    except DomainError as err:
        flash(str(err), "warning")
        return redirect(url_for("learning.course_detail", course_id=lesson.course_id))
    return None


def _json_error(err: DomainError, status: int):
    if isinstance(err, service.Superseded):
        # an expected turn of events (another tab took over), not a failed request
        return jsonify({"error": str(err), "state": "superseded"})
    return jsonify({"error": str(err), "state": "error"}), status


def _device() -> str:
    agent = (request.user_agent.string or "")[:150]
    return f"{agent} | {request.remote_addr or ''}"


@bp.post("/learn/lessons/<int:lesson_id>/start")
@permission(can_study, lesson=load(Lesson, "lesson_id"))
def study_start(lesson):
    clock, err = service_call(service.start_study, current_user, _me(), lesson, device=_device(),
                              heartbeat_seconds=current_app.config["STUDY_HEARTBEAT_SECONDS"])
    if err is not None:
        return _json_error(err, 409)
    progress = service.progress_for(_me(), [lesson]).get(lesson.id)
    return jsonify({"token": clock.token, "interval": current_app.config["STUDY_HEARTBEAT_SECONDS"],
                    "required_seconds": clock.required_seconds,
                    "lesson_seconds": progress.seconds if progress else 0,
                    "lesson_credited": bool(progress and progress.credited_at),
                    "video_furthest": progress.video_furthest if progress else 0})


def clock_endpoint(view):
    """The study clock's JSON endpoints, called every few seconds by every learner's page.

    They need no CSRF token and no rate limit: each request must carry the page's study
    token (random, issued by the CSRF-protected start request, readable by no other site),
    or it is refused; and a flood of heartbeats gains nothing, since the server credits
    only real time. Skipping both saves a fifth of the heartbeat's cost."""
    return csrf.exempt(limiter.exempt(view))


def _payload() -> dict:
    data = request.get_json(silent=True)
    return data if isinstance(data, dict) else {}


@bp.post("/learn/heartbeat")
@permission(can_study)
@clock_endpoint
def heartbeat():
    data = _payload()
    seq = data.get("seq")
    result, err = service_call(service.heartbeat, current_user, current_user.person_id, data.get("token"),
                               seq if isinstance(seq, int) and not isinstance(seq, bool) else -1,
                               active=data.get("active") is not False, position=data.get("position"))
    if err is not None:
        return _json_error(err, 409)
    return jsonify(result.as_json())


@bp.post("/learn/idle")
@permission(can_study)
@clock_endpoint
def idle():
    data = _payload()
    question, err = service_call(service.report_idle, current_user, current_user.person_id,
                                 data.get("token"))
    if err is not None:
        return _json_error(err, 409)
    return jsonify({"state": "challenge", "challenge": question})


@bp.post("/learn/answer")
@permission(can_study)
@clock_endpoint
def answer():
    data = _payload()
    try:
        question = service.answer_challenge(current_user, current_user.person_id, data.get("token"),
                                            data.get("answer"))
    except service.WrongAnswer as err:
        # the view returns, so the count of wrong answers is kept (a new question after three)
        return jsonify({"state": "challenge", "error": str(err), "challenge": err.question}), 422
    except PermissionDenied:
        raise
    except DomainError as err:
        db.session.rollback()
        return _json_error(err, 409)
    return jsonify({"state": "running" if question is None else "challenge", "challenge": question})


@bp.route("/learn/lessons/<int:lesson_id>/check", methods=["GET", "POST"])
@permission(can_study, lesson=load(Lesson, "lesson_id"))
def self_check(lesson):
    me = _me()
    refused = _refused(me, lesson)
    if refused is not None:
        return refused
    questions = service.self_check_questions(me, lesson)
    if request.method == "POST":
        answers = {}
        for question in questions:
            if question.kind == "truefalse":
                raw = request.form.getlist(f"q{question.id}")
                answers[question.id] = [raw[0] == "true"] if raw else []
            else:  # bounded ASCII integers only (anything else is dropped, never a 500)
                answers[question.id] = sorted(set(request.form.getlist(f"q{question.id}", type=int)))
        attempt, err = service_call(service.submit_self_check, current_user, me, lesson, answers)
        if err is not None:
            flash(str(err), "danger")
            return redirect(url_for("learning.study", lesson_id=lesson.id))
        return render_template("learning/self_check_result.html", lesson=lesson, attempt=attempt,
                               questions=questions, answers=answers, grade=catalog.grade,
                               next_lesson=_next_lesson(lesson))
    return render_template("learning/self_check.html", lesson=lesson, questions=questions)


@bp.get("/learn/persons/<int:person_id>/lessons/<int:lesson_id>/evidence")
@permission(can_view_person_hours, person=load(Person, "person_id"), lesson=load(Lesson, "lesson_id"))
def lesson_evidence(person, lesson):
    """Why a lesson's hours were credited: the study segments behind them, and the rules."""
    progress = service.progress_for(person, [lesson]).get(lesson.id)
    entry = db.session.get(LedgerEntry, progress.ledger_entry_id) if progress and progress.ledger_entry_id else None
    return render_template("learning/evidence.html", person=person, lesson=lesson, progress=progress,
                           entry=entry, segments=service.segments_for(person, lesson),
                           checks=service.presence_checks_for(person, lesson))


def _next_lesson(lesson: Lesson) -> Lesson | None:
    lessons = lesson.course.lessons
    index = next(i for i, item in enumerate(lessons) if item.id == lesson.id)
    return lessons[index + 1] if index + 1 < len(lessons) else None


def _caregiver_home(user):
    """The caregiver's home: this year's hours and the courses under way."""
    from lms.ledger import service as ledger

    me = _me()
    year = local_today().year
    enrolments = [e for e in service.my_enrolments(me) if e.completed_at is None][:5]
    return {"year": year, "hours": ledger.year_progress(me, year), "enrolments": enrolments,
            "progress": {e.course_id: service.course_progress(me, e.course, e) for e in enrolments}}


HOME_SECTIONS = (
    HomeSection(Role.CAREGIVER.value, "learning/home_caregiver.html", _caregiver_home, 20),
)

NAVIGATION = (
    NavEntry(_l("Courses"), "learning.catalogue", "book", can_browse_courses, order=10),
    NavEntry(_l("My study"), "learning.my_courses", "play-circle", can_study, order=11),
)

#: what this package's audit actions mean, for the audit log (registered in create_app)
AUDIT_TITLES = {
    "learning.course_completed": _l("Course completed"),
    "learning.enrolled": _l("Enrolled in a course"),
    "learning.enrolment_cancelled": _l("Enrolment cancelled by a ban"),
    "learning.enrolment_reopened": _l("Cancelled enrolment reopened"),
}
