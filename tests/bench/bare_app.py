"""The baseline for bench_heartbeat.py: a bare Flask endpoint doing one INSERT into the same
database the app uses (served by the same gunicorn settings)."""

from __future__ import annotations

import os

from flask import Flask, jsonify, request
from sqlalchemy import Column, DateTime, Integer, MetaData, Table, create_engine, insert

from lms.core.clock import utc_now

engine = create_engine(os.environ["DATABASE_URL"], pool_pre_ping=True)
metadata = MetaData()
bare = Table("bench_bare", metadata, Column("id", Integer, primary_key=True),
             Column("person", Integer), Column("seq", Integer), Column("at", DateTime))

if engine.dialect.name == "sqlite":
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _pragmas(connection, _record):  # the same pragmas as the app's
        cursor = connection.cursor()
        for pragma in ("foreign_keys=ON", "journal_mode=WAL", "busy_timeout=5000",
                       "synchronous=NORMAL"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

app = Flask(__name__)


@app.post("/bare")
def bare_insert():
    data = request.get_json(silent=True) or {}
    with engine.begin() as connection:
        connection.execute(insert(bare).values(person=int(data.get("person", 0)),
                                               seq=int(data.get("seq", 0)),
                                               at=utc_now()))
    return jsonify({"ok": True})
