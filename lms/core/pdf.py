"""PDFs (sign-in sheets, certificates) rendered by wkhtmltopdf from HTML we made (every value
escaped by Jinja), with local file access, JavaScript and the network all off. Images come
as data: URIs only."""

from __future__ import annotations

import os
import tempfile

import pdfkit
from flask import render_template

PDF_OPTIONS = {
    "page-size": "A4", "orientation": "Portrait", "encoding": "UTF-8",
    "margin-top": "12mm", "margin-bottom": "12mm", "margin-left": "12mm", "margin-right": "12mm",
    "disable-local-file-access": None,
    "disable-javascript": None,
    "proxy": "http://127.0.0.1:9",  # a dead proxy: nothing is fetched over the network
    "quiet": None,
}


def render_pdf(template: str, *, landscape: bool = False, **context) -> bytes:
    return html_to_pdf(render_template(template, **context), landscape=landscape)


def html_to_pdf(html: str, *, landscape: bool = False) -> bytes:
    options = {**PDF_OPTIONS, "orientation": "Landscape" if landscape else "Portrait"}
    with tempfile.TemporaryDirectory(prefix="lms-wk-") as runtime:  # Qt wants a private one
        os.chmod(runtime, 0o700)
        config = pdfkit.configuration(environ={**os.environ, "XDG_RUNTIME_DIR": runtime})
        return pdfkit.from_string(html, False, options=options, configuration=config)
