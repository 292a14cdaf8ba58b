"""The OpenAPI 3.1 document: valid, generated from the schemas the answers are checked against,
readable on a page of the app; and schemathesis, generating requests from it, finds no server
error and no answer that breaks it."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from openapi_spec_validator import validate
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import select

from lms.api.models import ApiCall
from lms.api.schemas import PersonStatus
from lms.core.actors import DEMO
from lms.core.clock import local_today
from lms.extensions import db
from lms.registry import service as registry
from tests.api.conftest import bearer
from tests.helpers import certificate

OPERATIONS = {("POST", "/api/v1/persons/status"), ("GET", "/api/v1/institutions/{org_id}/compliance"),
              ("GET", "/api/v1/districts/{code}/compliance"), ("GET", "/api/v1/certificates/{vcode}"),
              ("GET", "/api/v1/bans"), ("GET", "/api/v1/certificate-status")}


def test_the_document_is_valid_openapi_3_1(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    validate(doc)  # openapi-spec-validator picks the 3.1 validator from the "openapi" field
    assert doc["openapi"].startswith("3.1")
    assert {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops} == OPERATIONS
    assert doc["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer"}
    # the answer's schema in the document is the model the answers are validated with
    assert doc["components"]["schemas"]["PersonStatus"]["required"] == \
        PersonStatus.model_json_schema(mode="serialization")["required"]
    problem = doc["paths"]["/api/v1/bans"]["get"]["responses"]["401"]["content"]
    assert list(problem) == ["application/problem+json"]


def test_the_reference_page_is_served_by_the_app(client):
    page = client.get("/api/v1/docs")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    for _method, path in OPERATIONS:
        assert path in text
    assert "<script>" not in text and "cdn" not in text.lower()
    assert 'id="schema-PersonStatus"' in text
    assert client.get("/api/v1/problems/forbidden").status_code == 200
    assert client.get("/api/v1/problems/no-such-problem").status_code == 404


def _data(world):
    """Something for every endpoint to find: a certificate (suspended), a ban."""
    from lms.certificates import service as certificates

    cert = certificate(world, world.staff)
    certificates.change_status(DEMO, cert, "suspend", "核查")
    registry.record_ban(DEMO, id_number=world.staff_other.id_number, name=world.staff_other.name,
                        kind="lifetime", starts_on=local_today(), ends_on=None, reason="虐童")
    db.session.commit()


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


def _fuzz(operation, mode, headers):
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=8, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case):
        case.call_and_validate(headers=headers, checks=CHECKS)

    run()


def test_schemathesis_finds_no_server_error_and_no_answer_that_breaks_the_document(
        app, world, tokens):
    _data(world)
    app.config["API_RATE_LIMIT"] = "100000 per minute"
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {(op.method.upper(), op.path) for op in operations} == OPERATIONS
    try:
        for token in ("city", "xuanwu", "feed"):
            for operation in operations:
                for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                    _fuzz(operation, mode, bearer(tokens[token]))
    finally:
        app.config.pop("API_RATE_LIMIT")
    # it did call the app, answers and refusals both (every call is in the call log)
    statuses = set(db.session.scalars(select(ApiCall.status)))
    assert {200, 400, 403, 404} <= statuses, statuses
