"""Absolute links always come from the configured public address, never the request's Host.

A QR code printed on a certificate, a calendar feed, a notice or a trainer's check-in code
outlives the request that made it: taking its host from the Host header would let one
crafted request poison a stored PDF. `public_url` builds every absolute link from
PUBLIC_URL (environment LMS_PUBLIC_URL), inside or outside a request.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app


def public_url(endpoint: str, **values) -> str:
    """The absolute address of `endpoint` as the public reaches it: public_url("x.y", id=1)."""
    base = urlsplit(current_app.config["PUBLIC_URL"])
    adapter = current_app.url_map.bind(base.netloc, url_scheme=base.scheme or "https",
                                       script_name=base.path.rstrip("/") or "/")
    return adapter.build(endpoint, values, force_external=True)


def public_host() -> str:
    """The public address's host (for iCalendar UIDs and the like)."""
    return urlsplit(current_app.config["PUBLIC_URL"]).hostname or "localhost"


def is_safe_next(target: str | None) -> bool:
    """Only our own absolute paths: no scheme, no host, no //, no backslash tricks."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return False
    return "\\" not in target and not any(ord(c) < 32 for c in target)
