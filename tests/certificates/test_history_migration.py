"""The migration that puts certificates on the shared state machine keeps their history: each
old event becomes a state_events row with its states and authority, a suspension in force keeps
the authority it was made with, and certified results are marked so their scores stay put."""

from __future__ import annotations

from flask_migrate import downgrade, upgrade
from sqlalchemy import text

from lms.extensions import db
from tests.conftest import make_app

BEFORE = "345a805d3ec7"


def test_old_certificate_history_moves_into_state_events(tmp_path):
    app = make_app(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'm.sqlite3'}")
    with app.app_context():
        upgrade(revision=BEFORE)
        run = db.session.execute
        run(text("PRAGMA foreign_keys=OFF"))  # only the rows this migration reads
        run(text("INSERT INTO users (id, username, display_name, role, password_hash, is_enabled, "
                 "must_change_password, failed_logins, created_at, session_token) VALUES "
                 "(1,'reg','监管员','regulator','x',1,0,0,'2026-01-01','a'),"
                 "(2,'base','基地','base_staff','x',1,0,0,'2026-01-01','b')"))
        for cid, status in ((1, "suspended"), (2, "valid"), (3, "revoked")):
            values = {"id": cid, "number": f"N{cid}", "code": f"V{cid}", "status": status}
            run(text("INSERT INTO certificates (id, number, verify_code, person_id, qualification_type_id, "
                     "level, registration_id, issuer_id, issued_on, status, version, created_at) VALUES "
                     "(:id, :number, :code, :id, 1, 5, :id, 1, '2026-01-01', :status, 1, "
                     "'2026-01-02 03:00:00')"), values)
            run(text("INSERT INTO exam_registrations (id, sitting_id, person_id, registered_at, result) "
                     "VALUES (:id, 1, :id, '2026-01-01', 'passed')"), values)
        run(text("INSERT INTO certificate_events (certificate_id, action, reason, actor_id, actor_label, "
                 "created_at) VALUES (1,'issued','',2,'基地','2026-01-02'),(1,'suspend','查',1,'监管员','2026-01-03'),"
                 "(2,'issued','',2,'基地','2026-01-02'),(2,'suspend','错',2,'基地','2026-01-03'),"
                 "(2,'reinstate','改',2,'基地','2026-01-04'),(2,'reissued','遗失',2,'基地','2026-01-05'),"
                 "(3,'issued','',2,'基地','2026-01-02'),(3,'revoke','撤',1,'监管员','2026-01-03')"))
        db.session.commit()
        upgrade()
        events = run(text("SELECT object_id, action, from_state, to_state, authority, reason "
                          "FROM state_events ORDER BY id")).fetchall()
        assert [tuple(e) for e in events] == [
            (1, "create", "", "valid", "issuer", ""), (1, "suspend", "valid", "suspended", "regulator", "查"),
            (2, "create", "", "valid", "issuer", ""), (2, "suspend", "valid", "suspended", "issuer", "错"),
            (2, "reinstate", "suspended", "valid", "issuer", "改"), (2, "reissue", "valid", "valid", "issuer", "遗失"),
            (3, "create", "", "valid", "issuer", ""), (3, "revoke", "valid", "revoked", "regulator", "撤")]
        assert [tuple(r) for r in run(text("SELECT id, status_authority FROM certificates ORDER BY id"))] == [
            (1, "regulator"), (2, None), (3, "regulator")]
        assert run(text("SELECT count(*) FROM exam_registrations WHERE certified_at IS NULL")).scalar() == 0
        db.session.commit()
        downgrade(revision=BEFORE)
        assert run(text("SELECT count(*) FROM certificate_events")).scalar() == 8
        db.session.commit()
        db.engine.dispose()
