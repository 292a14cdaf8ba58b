"""Tables of the enforcement package."""

from __future__ import annotations


# --- bans ----------------------------------------------------------------------------------------


# --- inspections, 人证合一 checks ------------------------------------------------------------------
