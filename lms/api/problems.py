"""Errors as RFC 9457 problem documents (application/problem+json): a stable `type` URI per
kind of problem, `title` and `detail` in the language Accept-Language asks for."""

from __future__ import annotations

import json
import logging

from flask import Response, current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from lms.core.urls import public_url

log = logging.getLogger("lms.api")

PROBLEM_JSON = "application/problem+json"

#: slug -> (status, title); the slugs are part of the contract: never rename one
PROBLEMS = {
    "bad-request": (400, _l("The request is not valid.")),
    "unauthorized": (401, _l("A valid API token is required.")),
    "forbidden": (403, _l("This token's scope does not cover this request.")),
    "not-found": (404, _l("Nothing was found here.")),
    "method-not-allowed": (405, _l("This method is not allowed: the API is read-only.")),
    "too-many-requests": (429, _l("Too many requests with this token. Wait and try again.")),
    "server-error": (500, _l("Something went wrong on our side. Try again later.")),
}
BY_STATUS = {status: slug for slug, (status, _title) in PROBLEMS.items()}


class ApiProblem(Exception):
    """Raised anywhere in an API request: answered as a problem document."""

    def __init__(self, slug: str, detail=None, errors: list[dict] | None = None,
                 headers: dict | None = None):
        super().__init__(slug)
        self.slug = slug
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}


def default_detail(slug: str) -> str:
    return {
        "bad-request": _("Check the request against the API's reference."),
        "unauthorized": _("Send the token as 'Authorization: Bearer <token>'. A token that "
                          "expired or was revoked no longer works."),
        "forbidden": _("Ask the administrator for a token whose scope covers this."),
        "not-found": _("No such object within this token's scope."),
        "method-not-allowed": _("Use GET (or POST for a person's status)."),
        "too-many-requests": _("This token has made too many requests in a short time."),
        "server-error": _("The error has been logged."),
    }[slug]


def type_uri(slug: str) -> str:
    return public_url("api.v1.problem", slug=slug)


def document(slug: str, detail=None, errors: list[dict] | None = None) -> dict:
    status, title = PROBLEMS[slug]
    body = {"type": type_uri(slug), "title": str(title), "status": status,
            "detail": str(detail) if detail else default_detail(slug)}
    if errors:
        body["errors"] = errors
    return body


def response(slug: str, detail=None, errors: list[dict] | None = None,
             headers: dict | None = None) -> Response:
    body = document(slug, detail, errors)
    answer = current_app.response_class(json.dumps(body, ensure_ascii=False), status=body["status"],
                                        mimetype=PROBLEM_JSON)
    for name, value in (headers or {}).items():
        answer.headers[name] = value
    if slug == "unauthorized":
        answer.headers.setdefault("WWW-Authenticate", 'Bearer realm="lms-api"')
    if slug == "method-not-allowed":
        answer.headers.setdefault("Allow", "GET, HEAD")
    return answer


# --- pydantic's validation errors, in the reader's language ------------------------------------


def _field(loc) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query")]
    return ".".join(parts) or "body"


def field_errors(errors: list[dict]) -> list[dict]:
    """pydantic's errors as {field, message}: never the input (it may be an identity number)."""
    out = []
    for err in errors:
        kind, field = err.get("type", ""), _field(err.get("loc", ()))
        if kind == "missing":
            message = _("%(field)s is required.", field=field)
        elif kind == "extra_forbidden":
            message = _("%(field)s is not a field of this request.", field=field)
        elif kind.endswith("_type") or kind.endswith("_parsing") or kind == "model_attributes_type":
            message = _("%(field)s has the wrong type or format.", field=field)
        elif kind in {"greater_than", "greater_than_equal", "less_than", "less_than_equal",
                      "too_long", "too_short", "string_too_long", "string_too_short",
                      "string_pattern_mismatch", "timezone_aware"}:
            message = _("%(field)s is out of the allowed range or form.", field=field)
        elif kind == "value_error":
            # our own validators' messages (already translated), e.g. the identity number's
            message = str(err.get("ctx", {}).get("error", "")) or _("%(field)s is not valid.",
                                                                     field=field)
        else:
            message = _("%(field)s is not valid.", field=field)
        out.append({"field": field, "message": message})
    return out
