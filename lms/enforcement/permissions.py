"""Named predicates for the enforcement package."""

from __future__ import annotations

from lms.core.permissions import predicate  # noqa: F401


# --- bans ---


# --- inspections, 人证合一 checks, credit feed ---

