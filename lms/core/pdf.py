"""PDFs (sign-in sheets, certificates) rendered by wkhtmltopdf from HTML we made (every value
escaped by Jinja), with local file access, JavaScript and the network all off. Images come
as data: URIs only.

Every render has a time limit (PDF_TIMEOUT_SECONDS): wkhtmltopdf runs in its own process
group, which is killed as a whole when the time is up, so a hung render never ties up a
worker. A failed render raises PdfUnavailable; the app shows it as a clear 503 page.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile

import pdfkit
from flask import current_app, render_template
from flask_babel import lazy_gettext as _l

from lms.core.errors import DomainError

PDF_OPTIONS = {
    "page-size": "A4", "orientation": "Portrait", "encoding": "UTF-8",
    "margin-top": "12mm", "margin-bottom": "12mm", "margin-left": "12mm", "margin-right": "12mm",
    "disable-local-file-access": None,
    "disable-javascript": None,
    "proxy": "http://127.0.0.1:9",  # a dead proxy: nothing is fetched over the network
    "quiet": None,
}


class PdfUnavailable(DomainError):
    """The PDF could not be made (the renderer failed or ran out of time)."""


def render_pdf(template: str, *, landscape: bool = False, **context) -> bytes:
    return html_to_pdf(render_template(template, **context), landscape=landscape)


def html_to_pdf(html: str, *, landscape: bool = False, timeout: float | None = None) -> bytes:
    """The PDF of `html`, or PdfUnavailable within `timeout` seconds (default PDF_TIMEOUT_SECONDS)."""
    if timeout is None:
        timeout = float(current_app.config.get("PDF_TIMEOUT_SECONDS", 30))
    binary = shutil.which("wkhtmltopdf")
    if binary is None:
        current_app.logger.error("wkhtmltopdf is not installed")
        raise PdfUnavailable(_l("PDFs cannot be made on this server at the moment."))
    options = {**PDF_OPTIONS, "orientation": "Landscape" if landscape else "Portrait"}
    with tempfile.TemporaryDirectory(prefix="lms-wk-") as runtime:  # Qt wants a private one
        os.chmod(runtime, 0o700)
        config = pdfkit.configuration(wkhtmltopdf=binary,
                                      environ={**os.environ, "XDG_RUNTIME_DIR": runtime})
        args = pdfkit.PDFKit(html, "string", options=options, configuration=config).command()
        # its own session (process group): on timeout the whole group goes, helpers included
        proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,  # noqa: S603
                                stderr=subprocess.PIPE, env=config.environ, start_new_session=True)
        try:
            out, err = proc.communicate(html.encode("utf-8"), timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            current_app.logger.warning("wkhtmltopdf ran out of time (%ss) and was killed", timeout)
            raise PdfUnavailable(_l("Making the PDF took too long. Try again in a few minutes.")) from None
    if not out.startswith(b"%PDF"):
        current_app.logger.error("wkhtmltopdf failed (exit %s): %s", proc.returncode,
                                 err.decode("utf-8", "replace")[-500:])
        raise PdfUnavailable(_l("The PDF could not be made. Try again in a few minutes."))
    return out


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.communicate()  # reap it and close the pipes
