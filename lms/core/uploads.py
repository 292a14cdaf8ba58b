"""THE check of an uploaded document (certificate and staff-record scans, ban evidence, evidence
of class hours): a PDF, JPEG or PNG recognised by its first bytes, never by the name or the type
the browser sends, within a size limit. Each caller keeps its own wording and limit."""

from __future__ import annotations

from lms.core.errors import DomainError

#: first bytes -> the content type stored beside the file and sent back with it
DOCUMENT_TYPES = {b"%PDF-": "application/pdf", b"\xff\xd8\xff": "image/jpeg",
                  b"\x89PNG\r\n\x1a\n": "image/png"}


def document_type(data: bytes | None, *, field: str, max_bytes: int, missing, too_big,
                  wrong_type) -> str:
    """The content type of an uploaded PDF, JPEG or PNG, or a DomainError on `field` with the
    caller's message: `missing` (nothing attached), `too_big` (over max_bytes), `wrong_type`."""
    if not data:
        raise DomainError(missing, field=field)
    if len(data) > max_bytes:
        raise DomainError(too_big, field=field)
    kind = next((t for magic, t in DOCUMENT_TYPES.items() if data.startswith(magic)), None)
    if kind is None:
        raise DomainError(wrong_type, field=field)
    return kind
