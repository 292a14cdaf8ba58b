"""Tables of the compliance package."""

from __future__ import annotations
