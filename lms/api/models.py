"""Tables of the api package."""

from __future__ import annotations
