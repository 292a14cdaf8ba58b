"""Course Markdown, rendered safely: no raw HTML and no script from a course file reaches a page.

Raw HTML is escaped (markdown-it's `html: False`), links may only be http(s) or mailto, and
images only the course's own files, whose addresses the caller supplies.
"""

from __future__ import annotations

from collections.abc import Callable

from flask_babel import gettext as _
from markdown_it import MarkdownIt
from markupsafe import Markup, escape

ALLOWED_SCHEMES = ("http://", "https://", "mailto:")


def _link_ok(url: str) -> bool:
    lowered = url.strip().lower()
    return lowered.startswith(ALLOWED_SCHEMES) or lowered.startswith("images/")


def _renderer() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable("table")
    md.validateLink = _link_ok
    return md


_RENDER = _renderer()


def render_markdown(body: str, image_url: Callable[[str], str | None]) -> Markup:
    """HTML for a lesson; `image_url(path)` gives the address of one of the course's images."""
    tokens = _RENDER.parse(body)
    for token in _walk(tokens):
        if token.type == "image":
            src = token.attrGet("src") or ""
            url = image_url(src) if src.startswith("images/") else None
            if url is None:  # not one of the course's images: show its description instead
                token.type, token.tag, token.attrs, token.children = "text", "", {}, None
                continue
            token.attrSet("src", url)
            token.attrSet("class", "img-fluid lesson-figure")
            token.attrSet("loading", "lazy")
        elif token.type == "link_open":
            href = token.attrGet("href") or ""
            if not href.lower().startswith(ALLOWED_SCHEMES):
                token.attrSet("href", "#")
            token.attrSet("rel", "noopener noreferrer nofollow")
        elif token.type == "table_open":
            token.attrSet("class", "table table-sm table-bordered")
    html = _RENDER.renderer.render(tokens, _RENDER.options, {})
    return Markup(html)  # noqa: S704 - markdown-it with html=False escapes every raw tag


def _walk(tokens):
    for token in tokens:
        yield token
        if token.children:
            yield from _walk(token.children)


_CHECK = MarkdownIt("commonmark", {"html": True}).enable("table")
_CHECK.validateLink = lambda url: True  # see every link, so a refused one can be reported


def check_markdown(body: str, image_check: Callable[[str], str | None]) -> list[tuple[int, str]]:
    """Problems in a lesson's Markdown as (line within body, 1-based; message)."""
    problems = []
    for block in _CHECK.parse(body):
        line = (block.map[0] + 1) if block.map else 1
        if block.type == "html_block":
            problems.append((line, _("raw HTML is not allowed in a lesson: %(html)s",
                                     html=block.content.strip()[:60])))
        offset = 0
        for child in block.children or []:
            if child.type in ("softbreak", "hardbreak"):
                offset += 1
            elif child.type == "html_inline":
                problems.append((line + offset, _("raw HTML is not allowed in a lesson: %(html)s",
                                                  html=child.content[:60])))
            elif child.type == "link_open":
                href = child.attrGet("href") or ""
                if not href.lower().startswith(ALLOWED_SCHEMES):
                    problems.append((line + offset, _("links may only be http(s) or mailto: %(href)s",
                                                      href=href[:80])))
            elif child.type == "image":
                why = image_check(child.attrGet("src") or "")
                if why:
                    problems.append((line + offset, why))
    return problems


def plain_text(body: str) -> str:
    """Escaped text, for places that show a snippet."""
    return str(escape(body))
