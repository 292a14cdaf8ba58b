"""The certificate's PDF: its QR code and printed link come from the configured public address
whatever Host a request names; it is given out only while the certificate is in force; a
render that hangs is killed (its whole process group) and the user told, while other requests
go on; the download carries the certificate's own (Chinese) file name."""

from __future__ import annotations

import os
import subprocess
import threading
import time
import unicodedata
from pathlib import Path
from urllib.parse import quote

import pytest

from lms.certificates import service
from lms.core.actors import CLI
from lms.core.errors import PermissionDenied
from lms.extensions import db
from tests.conftest import login

PUBLIC = "https://zhengshu.example.gov.cn"


def _text(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "c.pdf"
    path.write_bytes(pdf)
    return unicodedata.normalize("NFKC", subprocess.run(
        ["pdftotext", str(path), "-"], check=True, capture_output=True, text=True).stdout)


def _qr(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "q.pdf"
    path.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-png", "-r", "150", "-f", "1", "-l", "1", str(path), str(tmp_path / "p")],
                   check=True)
    out = subprocess.run(["zbarimg", "-q", str(tmp_path / "p-1.png")], check=True, capture_output=True,
                         text=True).stdout.strip()
    return out.removeprefix("QR-Code:")


def test_a_crafted_host_header_does_not_reach_the_stored_pdf(app, world, cert, tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "PUBLIC_URL", PUBLIC)
    holder = app.test_client()
    holder.environ_base["HTTP_HOST"] = "evil.example.com"  # every request names that host
    login(holder, world.staff.mobile)
    response = holder.get(f"/certificates/{cert.id}/pdf")
    assert response.status_code == 200
    db.session.expire_all()
    stored = db.session.get(type(cert), cert.id).pdf
    assert stored == response.data
    link = f"{PUBLIC}/verify/{cert.verify_code}"
    assert _qr(stored, tmp_path) == link
    text = _text(stored, tmp_path)
    assert link in text and "evil.example.com" not in text


def test_a_suspended_or_revoked_certificates_pdf_is_withheld_with_the_reason(app, world, cert):
    holder = app.test_client()
    login(holder, world.staff.mobile)
    assert holder.get(f"/certificates/{cert.id}/pdf").data.startswith(b"%PDF")  # made and stored
    service.change_status(world.users["regulator"], cert, "suspend", "投诉调查中")
    db.session.commit()
    assert cert.pdf is not None  # kept, but not served
    refused = holder.get(f"/certificates/{cert.id}/pdf")
    body = refused.get_data(as_text=True)
    assert refused.status_code == 409 and refused.mimetype == "text/html"
    assert "Suspended" in body and "投诉调查中" in body and "%PDF" not in body
    listing = holder.get("/my/certificates").get_data(as_text=True)
    assert f"download-{cert.id}" not in listing and f"/certificates/{cert.id}" in listing
    with pytest.raises(service.PdfWithheld):
        service.pdf(world.users["regulator"], cert)
    service.change_status(world.users["regulator"], cert, "reinstate", "调查结束")
    db.session.commit()
    assert holder.get(f"/certificates/{cert.id}/pdf").data.startswith(b"%PDF")
    service.change_status(world.users["admin"], cert, "revoke", "以欺骗手段取得")
    db.session.commit()
    revoked = holder.get(f"/certificates/{cert.id}/pdf")
    assert revoked.status_code == 409 and "Revoked" in revoked.get_data(as_text=True)
    assert "以欺骗手段取得" in revoked.get_data(as_text=True)


def test_the_download_is_named_by_the_certificate_in_any_browser(app, world, cert):
    holder = app.test_client()
    login(holder, world.staff.mobile)
    disposition = holder.get(f"/certificates/{cert.id}/pdf").headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert f"filename*=UTF-8''{quote('保育师-' + cert.number + '.pdf')}" in disposition


def test_only_the_holder_and_managers_get_the_pdf(world, cert):
    with pytest.raises(PermissionDenied):
        service.pdf(world.users["inst_admin"], cert)
    with pytest.raises(PermissionDenied):
        service.pdf(world.users["regulator_other"], cert)
    assert service.pdf(CLI, cert).startswith(b"%PDF")


_HUNG = """#!/bin/sh
# a wkhtmltopdf that never finishes: it and a helper it started wait forever
echo $$ > "{dir}/main.pid"
sleep 300 &
echo $! > "{dir}/helper.pid"
wait
"""


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return True
    return state in {"Z", "X"}  # killed; only its parent's (init's) reaping is left


def test_a_hung_render_is_killed_and_the_user_told_while_others_are_served(app, world, cert, tmp_path,
                                                                             monkeypatch):
    fake = tmp_path / "bin" / "wkhtmltopdf"
    fake.parent.mkdir()
    fake.write_text(_HUNG.format(dir=tmp_path))
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setitem(app.config, "PDF_TIMEOUT_SECONDS", 1.5)
    holder = app.test_client()
    login(holder, world.staff.mobile)
    outcome, url = {}, f"/certificates/{cert.id}/pdf"

    def download():
        started = time.monotonic()
        response = holder.get(url)
        outcome.update(status=response.status_code, body=response.get_data(as_text=True),
                       seconds=time.monotonic() - started)

    slow = threading.Thread(target=download)
    slow.start()
    for _ in range(100):  # the render has begun
        if (tmp_path / "helper.pid").exists():
            break
        time.sleep(0.02)
    other = app.test_client()
    assert other.get("/verify").status_code == 200  # served meanwhile
    assert slow.is_alive()
    slow.join(10)
    assert outcome["status"] == 503 and 1.4 < outcome["seconds"] < 6
    assert "Making the PDF took too long" in outcome["body"]
    main, helper = (int((tmp_path / f"{n}.pid").read_text()) for n in ("main", "helper"))
    deadline = time.monotonic() + 3
    while not (_gone(main) and _gone(helper)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _gone(main) and _gone(helper)
    db.session.expire_all()
    assert db.session.get(type(cert), cert.id).pdf is None  # nothing half-made was kept
    monkeypatch.undo()
    assert holder.get(f"/certificates/{cert.id}/pdf").data.startswith(b"%PDF")  # the real one works
