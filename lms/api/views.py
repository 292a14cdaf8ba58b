"""The JSON API under /api/v1 (token-authenticated, read-only) and the administrators' page for
its clients and tokens.

`bp` holds the administrators' pages (session, CSRF) and, nested in it, `v1`: the API itself,
exempt from CSRF (a bearer token, no cookie) and answering every error as a problem document.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from spectree import Response, SpecTree
from werkzeug.exceptions import HTTPException

from lms.api import problems, service, tokens
from lms.api.forms import IssueForm, NewClientForm, RevokeForm
from lms.api.models import ApiClient, ApiToken
from lms.api.permissions import (
    api_reads_district,
    api_reads_feeds,
    api_reads_institution,
    api_reads_registry,
    can_manage_api_clients,
)
from lms.api.problems import ApiProblem
from lms.api.schemas import (
    BanFeed,
    CertificateStatusFeed,
    CertificateVerification,
    DistrictCompliance,
    FeedQuery,
    InstitutionCompliance,
    PersonStatus,
    PersonStatusRequest,
    Problem,
)
from lms.core.clock import utc_now
from lms.core.errors import DomainError, PermissionDenied
from lms.core.models import District
from lms.core.navigation import NavEntry
from lms.core.permissions import anyone, load, permission
from lms.core.web import form_error, query_int, register_error_renderer, service_call
from lms.extensions import csrf, db, limiter
from lms.registry.models import Organisation, OrgKind

log = logging.getLogger("lms.api")

bp = Blueprint("api", __name__, template_folder="templates")
v1 = Blueprint("v1", __name__, url_prefix="/api/v1")
csrf.exempt(v1)  # bearer tokens, no cookies: nothing for a forged form to ride on

#: requests per token; shared across app servers through RATELIMIT_STORAGE_URI (Redis)
DEFAULT_RATE = "600 per minute"


def _before_view(req, resp, err, instance, adapter):
    """spectree's hook after it validated the request: answer a bad one as a 400 problem."""
    if req.method == "POST" and not isinstance(req.get_json(silent=True), dict):
        raise ApiProblem("bad-request", _("Send a JSON object, with Content-Type: "
                                          "application/json."))
    if err is not None:
        raise ApiProblem("bad-request", errors=problems.field_errors(
            err.errors(include_input=False, include_url=False)))


def _after_view(req, resp, err, instance, adapter):
    if err is not None:  # our answer broke our own schema: a bug, never sent
        log.error("api response broke its schema endpoint=%s errors=%s", req.endpoint,
                  [(e["loc"], e["type"]) for e in err.errors(include_input=False)])
        raise ApiProblem("server-error")


#: the schemas that validate and serialise are the document's schemas (OpenAPI 3.1)
spec = SpecTree(
    "flask", mode="strict", annotations=False, page_templates={},
    title="托育从业人员登记 API · Childcare staff registry API", version="1.0.0",
    description="Read-only answers for other government systems. Authenticate with "
                "`Authorization: Bearer <token>`; errors are RFC 9457 problem documents.",
    security_schemes=[{"name": "bearer", "data": {"type": "http", "scheme": "bearer"}}],
    security={"bearer": []},
    before=_before_view, after=_after_view,
    validation_error_status=400, validation_error_model=Problem,
    # schema names are part of the document: the class names, no module hashes
    naming_strategy=lambda model: model.__name__,
    nested_naming_strategy=lambda _parent, child: child,
)

_ERRORS = {f"HTTP_{code}": Problem for code in (401, 403, 404, 429, 500)}
#: endpoints that take a token; the document, its reference page and problem pages do not
TOKEN_ENDPOINTS: set[str] = set()


def _token(view):
    TOKEN_ENDPOINTS.add(f"api.v1.{view.__name__}")
    return view


def _rate_key() -> str:
    prefix = tokens.token_prefix(request.headers.get("Authorization"))
    return f"api-token:{prefix}" if prefix else f"api-anon:{request.remote_addr}"


def _rate() -> str:
    from flask import current_app

    return current_app.config.get("API_RATE_LIMIT", DEFAULT_RATE)


limited = limiter.limit(_rate, key_func=_rate_key)


@v1.before_request
def _authenticate():
    g.api_started = time.perf_counter()
    g.api_actor = None
    if request.endpoint in TOKEN_ENDPOINTS:
        # The API only reads, and its one write (the call's log) stands alone: each statement
        # commits by itself, so a call spends no round trips on BEGIN and COMMIT, and a problem
        # answer's rollback finds no transaction to end (psycopg keeps the connection's
        # prepared statements). PostgreSQL's READ COMMITTED gives each statement its own
        # snapshot in a transaction too: the answers read the same. (A request that carries a
        # signed-in browser's cookie has read its user already, in a transaction: it keeps it.)
        if not db.session().in_transaction():
            db.session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        actor = tokens.authenticate(request.headers.get("Authorization"))
        if actor is None:
            raise ApiProblem("unauthorized")
        g.api_actor = actor
        g._login_user = actor  # Flask-Login's current user for this request only, no session


@v1.after_request
def _log_call(response):
    if request.endpoint in TOKEN_ENDPOINTS:
        started = g.get("api_started")
        duration = (time.perf_counter() - started) * 1000 if started else 0.0
        tokens.record_call(g.get("api_actor"), request.endpoint, request.method,
                           response.status_code, duration,
                           in_request=bool(g.get("view_returned")))
    return response


@v1.errorhandler(ApiProblem)
def _problem(error: ApiProblem):
    db.session.rollback()
    return problems.response(error.slug, error.detail, error.errors, error.headers)


@v1.errorhandler(PermissionDenied)
def _refused(error):
    db.session.rollback()
    return problems.response("forbidden")


@v1.errorhandler(DomainError)
def _domain_error(error):
    db.session.rollback()
    return problems.response("bad-request", str(error))


@v1.errorhandler(HTTPException)
def _http_error(error: HTTPException):
    db.session.rollback()
    slug = problems.BY_STATUS.get(error.code or 500)
    if slug is None:
        slug = "server-error" if (error.code or 500) >= 500 else "bad-request"
    return problems.response(slug)


def _unmatched(error, code):
    # no route matched (404) or not with this method (405): no blueprint's handler runs
    allowed = getattr(error, "valid_methods", None)
    headers = {"Allow": ", ".join(sorted(allowed))} if allowed else None
    return problems.response(problems.BY_STATUS.get(code, "bad-request"), headers=headers)


bp.record_once(lambda state: register_error_renderer(state.app, "/api/v1/", _unmatched))


class load_district(load):  # noqa: N801 - reads as a declaration, like load
    """A district by its code (行政区划代码) in the URL."""

    def fetch(self, view_args: dict):
        district = service.find_district(view_args[self.arg])
        if district is None:
            raise ApiProblem("not-found")
        return district


class load_institution(load):  # noqa: N801
    """An institution by id: another kind of organisation is not found here."""

    def fetch(self, view_args: dict):
        org = db.session.get(Organisation, view_args[self.arg])
        if org is None or org.kind != OrgKind.INSTITUTION:
            raise ApiProblem("not-found")
        return org


# --- the API --------------------------------------------------------------------------------------


@v1.post("/persons/status", provide_automatic_options=False)
@_token
@permission(api_reads_registry)
@limited
@spec.validate(json=PersonStatusRequest, resp=Response(HTTP_200=PersonStatus, **_ERRORS),
               tags=["registry"], operation_id="personStatus")
def person_status():
    """A person's status by identity number

    Banned (until when), current employments and whether each is certified for its post,
    certificates and their state, this year's class hours against the requirement, the health
    check. Within the token's scope only: a district token sees people employed in its district;
    anyone else is "not found", like an unknown number.
    """
    data = service.person_status(g.api_actor, request.context.json.id_number)
    if data is None:
        raise ApiProblem("not-found")
    return PersonStatus.model_validate(data)


@v1.get("/institutions/<int(min=0, max=2147483647):org_id>/compliance", provide_automatic_options=False)
@_token
@permission(api_reads_institution, org=load_institution(Organisation, "org_id"))
@limited
@spec.validate(resp=Response(HTTP_200=InstitutionCompliance, **_ERRORS), tags=["compliance"],
               operation_id="institutionCompliance")
def institution_compliance(org):
    """An institution's compliance

    Staff, how many are certified for their posts, the share against the district's target (the
    figures of the regulator's institutions page), and how many current staff are banned.
    """
    return InstitutionCompliance.model_validate(service.institution_compliance(g.api_actor, org))


@v1.get("/districts/<code>/compliance", provide_automatic_options=False)
@_token
@permission(api_reads_district, district=load_district(District, "code"))
@limited
@spec.validate(resp=Response(HTTP_200=DistrictCompliance, **_ERRORS), tags=["compliance"],
               operation_id="districtCompliance")
def district_compliance(district):
    """A district's compliance

    The district's roll-up and each of its institutions' figures.
    """
    return DistrictCompliance.model_validate(service.district_compliance(g.api_actor, district))


@v1.get("/certificates/<vcode>", provide_automatic_options=False)
@_token
@permission(api_reads_registry)
@limited
@spec.validate(resp=Response(HTTP_200=CertificateVerification, **_ERRORS), tags=["certificates"],
               operation_id="verifyCertificate")
def certificate(vcode):
    """Verify a certificate by its verification code

    What the public verification page shows: validity, the certificate, a masked holder.
    """
    data = service.certificate(g.api_actor, vcode)
    if data is None:
        raise ApiProblem("not-found")
    return CertificateVerification.model_validate(data)


def _feed_args(query: FeedQuery):
    since = query.changed_since.astimezone(UTC).replace(tzinfo=None) if query.changed_since else None
    return since, query.cursor, query.limit


@v1.get("/bans", provide_automatic_options=False)
@_token
@permission(api_reads_feeds)
@limited
@spec.validate(query=FeedQuery, resp=Response(HTTP_200=BanFeed, **_ERRORS), tags=["feeds"],
               operation_id="banFeed")
def bans():
    """Bans recorded or lifted since a time

    Oldest change first, a page at a time: pass `next_cursor` back as `cursor` for the next page
    (and later, to receive only what changed since).
    """
    page = service.ban_feed(g.api_actor, *_feed_args(request.context.query))
    return BanFeed(items=page.items, next_cursor=page.next_cursor, has_more=page.has_more)


@v1.get("/certificate-status", provide_automatic_options=False)
@_token
@permission(api_reads_feeds)
@limited
@spec.validate(query=FeedQuery, resp=Response(HTTP_200=CertificateStatusFeed, **_ERRORS),
               tags=["feeds"], operation_id="certificateStatusFeed")
def certificate_status():
    """Certificate status changes since a time

    Suspensions, reinstatements, revocations and expiries recorded by the certificates' state
    machine, oldest first, paginated like the ban feed.
    """
    page = service.certificate_feed(g.api_actor, *_feed_args(request.context.query))
    return CertificateStatusFeed(items=page.items, next_cursor=page.next_cursor,
                                 has_more=page.has_more)


# --- the document and its reference -----------------------------------------------------------


def openapi_document() -> dict:
    """The OpenAPI 3.1 document, generated from the schemas above (spectree), with the problem
    answers' media type and this deployment's address."""
    import copy

    from flask import current_app

    doc = copy.deepcopy(spec.spec)
    doc["servers"] = [{"url": current_app.config["PUBLIC_URL"].rstrip("/")}]
    for operations in doc["paths"].values():
        for operation in operations.values():
            for status, answer in operation.get("responses", {}).items():
                if int(status) >= 400 and "content" in answer:
                    answer["content"] = {problems.PROBLEM_JSON: answer["content"]["application/json"]}
    return doc


@v1.get("/openapi.json", provide_automatic_options=False)
@permission(anyone)
def openapi():
    from flask import jsonify

    return jsonify(openapi_document())


@v1.get("/docs", provide_automatic_options=False)
@permission(anyone)
def reference():
    doc = openapi_document()
    return render_template("api/reference.html", doc=doc, problems=_problem_list(),
                           schemas=doc["components"]["schemas"])


def _problem_list():
    return [{"slug": slug, "status": status, "title": str(title),
             "detail": problems.default_detail(slug), "type": problems.type_uri(slug)}
            for slug, (status, title) in problems.PROBLEMS.items()]


@v1.get("/problems/<slug>", provide_automatic_options=False)
@permission(anyone)
def problem(slug):
    found = next((p for p in _problem_list() if p["slug"] == slug), None)
    if found is None:
        raise ApiProblem("not-found")
    return render_template("api/problem.html", problem=found)


bp.register_blueprint(v1)


# --- administrators: clients and tokens -----------------------------------------------------------


def _clients_page(form=None, issued=None):
    form = form or NewClientForm(formdata=None)
    districts = db.session.scalars(db.select(District).order_by(District.code))
    form.district.choices = [("", "—")] + [(str(d.id), f"{d.code} {d.name}") for d in districts]
    return render_template("api/clients.html", form=form, issue_form=IssueForm(formdata=None),
                           revoke_form=RevokeForm(), clients=tokens.clients(), issued=issued,
                           now=utc_now())


@bp.route("/admin/api-clients", methods=["GET", "POST"])
@permission(can_manage_api_clients)
def clients():
    form = NewClientForm()
    if request.method == "POST" and form.validate_on_submit():
        district = None
        if form.district.data:
            try:
                district = db.session.get(District, query_int(form.district.data))
            except ValueError:
                district = None
        issued, err = service_call(tokens.issue_client, current_user, name=form.name.data,
                                   scope=form.scope.data, district=district,
                                   expires_on=form.expires_on.data)
        if err is None:
            # the token is in this answer only: never flashed (a flash travels in the session
            # cookie), never stored
            return _clients_page(issued=issued)
        form_error(form, err)
    return _clients_page(form)


@bp.post("/admin/api-clients/<int:client_id>/tokens")
@permission(can_manage_api_clients, client=load(ApiClient, "client_id"))
def issue_token(client):
    form = IssueForm()
    if not form.validate_on_submit():
        flash(_("Choose an expiry date."), "danger")
        return redirect(url_for("api.clients"))
    issued, err = service_call(tokens.issue_token, current_user, client, form.expires_on.data)
    if err is not None:
        flash(str(err), "danger")
        return redirect(url_for("api.clients"))
    return _clients_page(issued=issued)


@bp.post("/admin/api-tokens/<int:token_id>/revoke")
@permission(can_manage_api_clients, token=load(ApiToken, "token_id"))
def revoke_token(token):
    if RevokeForm().validate_on_submit():
        _t, err = service_call(tokens.revoke_token, current_user, token)
        flash(str(err) if err else _("Token revoked: it no longer works."),
              "danger" if err else "success")
    return redirect(url_for("api.clients"))


#: header entries, home sections and audit titles (registered in create_app)
NAVIGATION = (
    NavEntry(_l("API clients"), "api.clients", "key", can_manage_api_clients, order=85),
)
HOME_SECTIONS = ()
AUDIT_TITLES = {
    "api.client_created": _l("API client registered"),
    "api.token_issued": _l("API token issued"),
    "api.token_revoked": _l("API token revoked"),
}
