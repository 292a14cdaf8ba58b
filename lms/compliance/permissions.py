"""Named predicates for the compliance package."""

from __future__ import annotations

from lms.core.permissions import predicate  # noqa: F401

