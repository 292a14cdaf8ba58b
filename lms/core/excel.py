"""Reading and writing .xlsx files safely.

Uploaded spreadsheets are hostile until proven otherwise. python-calamine is fast, but it
allocates its whole grid (one cell per position between the smallest and the largest cell
reference it meets) and reserves room for as many shared strings as the file announces, and
a failed allocation aborts the whole process: it is not an exception. So every upload goes
through :func:`inspect_xlsx` first, which reads the ZIP central directory, then streams the
first worksheet's XML (and the shared strings) in 1 MB pieces through byte counts and a few
regexes, bounding everything calamine would size its allocations on. Only then does
:func:`read_rows` hand the bytes to calamine.

What calamine 0.37 (python-calamine 0.9.1) does, checked with hand-made files, and what the
scanner mirrors:

* the workbook is ``workbook.xml`` in the folder of the officeDocument target of
  ``_rels/.rels`` (normally ``xl``), with ``_rels/workbook.xml.rels`` and
  ``sharedStrings.xml`` beside it; the first sheet is the first ``<sheet>`` element; its
  relationship id is compared as raw bytes; a target starting with ``/`` is taken from the
  package root, any other from that folder; ZIP member names are matched ignoring case.
* cell positions come from the raw ``r`` attribute of ``<c>`` (letters then digits, either
  case, leading zeros allowed, no entity decoding, 32-bit arithmetic that wraps round); a
  ``<c>`` without ``r`` goes right of the previous cell; ``</row>`` moves one row down and
  back to column A; ``<row r="...">`` sets the row. Element names are compared without what
  precedes their first ":"; attribute names exactly.
* ``<sst uniqueCount="...">`` is reserved up front.
* ZIP members are never inflated past their declared size (the zip crate errors out), so the
  declared sizes in the central directory bound what calamine can inflate.

Where the scanner cannot tell how calamine will read something, it either counts it (which
can only make it stricter) or refuses the file.
"""

from __future__ import annotations

import copy
import datetime as dt
import io
import math
import re
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from operator import methodcaller

import python_calamine
import xlsxwriter
from flask_babel import lazy_gettext as _l

from lms.core.errors import DomainError

__all__ = ["ExcelError", "Limits", "inspect_xlsx", "neutralise", "read_rows", "write_xlsx"]


class ExcelError(DomainError):
    """An uploaded file is not a spreadsheet we are willing to read."""


@dataclass(frozen=True)
class Limits:
    """What an upload may amount to. The defaults fit staff rosters of up to 200,000 rows."""

    max_file_bytes: int = 20 * 1024 * 1024
    max_members: int = 200  # zip entries
    max_uncompressed_bytes: int = 300 * 1024 * 1024  # total declared
    max_member_bytes: int = 250 * 1024 * 1024
    max_ratio: int = 100  # uncompressed/compressed, for members over 1 MB uncompressed
    max_rows: int = 200_000
    max_columns: int = 50


_DEFAULT_LIMITS = Limits()

_MB = 1024 * 1024
_CHUNK = 1 << 20
_RATIO_FLOOR = 1 * _MB  # the ratio bound only applies to members bigger than this
_MAX_SMALL_PART = 16 * _MB  # workbook.xml and the .rels are read whole, up to this size
_MAX_TAIL = 4 * _MB  # longest stretch of sheet XML without a "<" we accept
_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP_MAGIC = b"PK\x03\x04"
_SHEET_FALLBACK = "xl/worksheets/sheet1.xml"
# members that would let calamine fall back to its .ods reader (or, with a workbook.bin, its
# .xlsb reader: it tries the formats in turn), which the scanner below knows nothing about
_FOREIGN_PARTS = frozenset({"content.xml", "mimetype"})

# --- user-facing messages (English msgids, translated lazily) ---------------------------------


def _msg_not_xlsx():
    return _l("This is not an .xlsx file. Please upload an Excel workbook saved as .xlsx.")


def _msg_ole2():
    return _l(
        "This is an old Excel (.xls) file or a password-protected workbook. Open it in "
        "Excel and save it as .xlsx (or remove the password), then upload it again."
    )


def _msg_damaged():
    return _l(
        "The file is damaged or is not a valid .xlsx workbook. Open it in Excel, save it "
        "again as .xlsx and upload it again."
    )


def _msg_bomb():
    return _l(
        "The file unpacks to far more data than a spreadsheet of this kind should contain, "
        "so it was not opened."
    )


def _msg_rows(limit: int):
    return _l("The sheet has more than %(limit)s rows.", limit=limit)


def _msg_columns(limit: int):
    return _l("The sheet has more than %(limit)s columns.", limit=limit)


def _size_mb(n: int) -> str:
    value = n / _MB
    return f"{value:.0f}" if value == int(value) else f"{value:.1f}"


# --- inspection -------------------------------------------------------------------------------


def inspect_xlsx(data: bytes, limits: Limits = _DEFAULT_LIMITS) -> None:
    """Raise :class:`ExcelError` unless ``data`` is an .xlsx that is safe to give calamine.

    Checks, in order: empty; old .xls / encrypted (OLE2); not a ZIP; file size; the ZIP
    central directory alone (number of members, declared sizes and compression ratios,
    encryption, names differing only in case); a workbook and a worksheet present; then
    streams the first worksheet's XML, bounding the dimension and every other cell range,
    every cell and row reference, the number of rows and the cells per row, and counting
    the bytes really inflated; last, the shared strings' announced count.
    """
    if not data:
        raise ExcelError(_l("The file is empty."))
    if data[:4] == _OLE2_MAGIC[:4]:
        raise ExcelError(_msg_ole2())
    if not data.startswith(_ZIP_MAGIC):
        raise ExcelError(_msg_not_xlsx())
    if len(data) > limits.max_file_bytes:
        raise ExcelError(
            _l("The file is larger than %(limit)s MB.", limit=_size_mb(limits.max_file_bytes))
        )
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except Exception:  # BadZipFile, but also OSError/ValueError/EOFError on mangled input
        raise ExcelError(_msg_not_xlsx()) from None
    with zf:
        members = _check_directory(zf, infos, limits)
        folders = _workbook_folders(zf, members)
        if not folders:
            raise ExcelError(_l("The file is a ZIP archive but not an Excel workbook (.xlsx)."))
        sheets: dict[str, zipfile.ZipInfo] = {}
        for folder in folders:
            for info in _first_sheet_members(zf, members, folder):
                sheets[info.filename] = info
        if not sheets and _SHEET_FALLBACK in members:
            sheets[_SHEET_FALLBACK] = members[_SHEET_FALLBACK]
        if not sheets:
            raise ExcelError(_l("The workbook does not contain a worksheet."))
        for info in sheets.values():
            _scan_sheet(zf, info, limits)
        for folder in folders:
            _check_shared_strings(zf, members.get(_join(folder, "sharedstrings.xml")), limits)


def _check_directory(
    zf: zipfile.ZipFile, infos: list[zipfile.ZipInfo], limits: Limits
) -> dict[str, zipfile.ZipInfo]:
    """Central-directory checks. Returns the members keyed by their lower-cased name."""
    if not infos:
        raise ExcelError(_msg_not_xlsx())
    if len(infos) > limits.max_members:
        raise ExcelError(
            _l(
                "The file contains more than %(limit)s internal parts; it does not look like "
                "a normal spreadsheet.",
                limit=limits.max_members,
            )
        )
    if zf.comment:
        raise ExcelError(_msg_damaged())
    members: dict[str, zipfile.ZipInfo] = {}
    total = 0
    for info in infos:
        key = info.filename.lower()
        if key in members:  # calamine matches names ignoring case: ambiguous, refuse
            raise ExcelError(_msg_damaged())
        members[key] = info
        if info.flag_bits & 0x1:
            raise ExcelError(_msg_ole2())
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise ExcelError(_msg_damaged())
        if info.file_size > limits.max_member_bytes:
            raise ExcelError(_msg_bomb())
        total += info.file_size
        if total > limits.max_uncompressed_bytes:
            raise ExcelError(_msg_bomb())
        if (
            info.file_size > _RATIO_FLOOR
            and info.file_size > limits.max_ratio * max(info.compress_size, 1)
        ):
            raise ExcelError(_msg_bomb())
    if any(name in _FOREIGN_PARTS or name.endswith("workbook.bin") for name in members):
        raise ExcelError(_msg_not_xlsx())
    return members


# --- XML helpers ------------------------------------------------------------------------------
#
# The byte regexes below are only trusted on XML that passed _WELL_FORMED: a sequence of text
# without "<" and of tags "<...>" whose quoted attribute values contain no "<" (quotes are
# tracked the way quick-xml tracks them, so a ">" inside a quoted value does not end the tag).
# On such XML every "<" starts a tag for quick-xml too, which is what makes it safe to look
# for tags by their first bytes and to cut the stream just before any "<". Comments, CDATA
# and processing instructions (which quick-xml skips) are removed before looking at tags;
# anything else starting with "<!" (a DOCTYPE) is refused.

_WELL_FORMED = re.compile(rb"""(?:[^<]*+<(?:[^"'<>]++|"[^"<]*+"|'[^'<]*+')*+>)*+[^<]*+""")
_XML_NOISE = re.compile(rb"<!--.*?-->|<!\[CDATA\[.*?\]\]>|<\?.*?\?>", re.DOTALL)
# optional namespace prefix: quick-xml compares element names without what comes before the
# first ":" (names with several are refused where it matters)
_PREFIX = rb"""(?:[^\s<>/="']*:)?"""

_START_TAG = re.compile(
    rb"<(" + _PREFIX + rb"""[^\s<>/="':]+)"""
    rb"""((?:\s*[^\s=/>"'<]+\s*=\s*(?:"[^"<]*"|'[^'<]*'))*)\s*/?>"""
)
_ATTR = re.compile(rb"""([^\s=/>"'<]+)\s*=\s*(?:"([^"<]*)"|'([^'<]*)')""")


def _clean_xml(text: bytes) -> bytes:
    """Check the structure described above and drop comments, CDATA and PIs."""
    if not (_no_markup_in_values(text) or _WELL_FORMED.fullmatch(text)):
        raise ExcelError(_msg_damaged())
    if b"<!" in text or b"<?" in text:
        text = _XML_NOISE.sub(b"", text)
        if b"<!" in text or b"<?" in text:
            raise ExcelError(_msg_damaged())
    return text


def _start_tags(text: bytes, local_name: bytes):
    """(attributes) of every start tag named ``local_name`` (any prefix), in order."""
    for m in re.finditer(rb"<(?=" + _PREFIX + re.escape(local_name) + rb"[\s/>])", text):
        tag = _START_TAG.match(text, m.start())
        if tag is None:
            raise ExcelError(_msg_damaged())
        if tag.group(1).count(b":") > 1:  # quick-xml and we might disagree on its name
            raise ExcelError(_msg_damaged())
        if _local(tag.group(1)) != local_name:
            continue
        yield [
            (a.group(1), a.group(2) if a.group(2) is not None else a.group(3))
            for a in _ATTR.finditer(tag.group(2))
        ]


def _local(name: bytes) -> bytes:
    return name.split(b":", 1)[-1]


def _read_small(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """Read a small XML part whole (up to _MAX_SMALL_PART) and clean it."""
    if info.file_size > _MAX_SMALL_PART:
        raise ExcelError(_msg_damaged())
    try:
        with zf.open(info) as fh:
            text = fh.read(_MAX_SMALL_PART + 1)
    except Exception:  # BadZipFile (CRC), zlib.error, EOFError...
        raise ExcelError(_msg_damaged()) from None
    if len(text) != info.file_size or b"\x00" in text:
        raise ExcelError(_msg_damaged())
    return _clean_xml(text)


def _join(folder: str, name: str) -> str:
    return f"{folder}/{name}" if folder else name


def _workbook_folders(zf: zipfile.ZipFile, members: dict[str, zipfile.ZipInfo]) -> list[str]:
    """The folders calamine may read the workbook from (lower case).

    calamine 0.37 takes the folder of the officeDocument target in ``_rels/.rels`` (the last
    one if there are several; the file name itself is ignored) and reads ``workbook.xml``,
    ``_rels/workbook.xml.rels`` and ``sharedStrings.xml`` there; older versions always read
    ``xl/``. Every folder named by any package relationship, and ``xl``, is a candidate, and
    every candidate that holds a ``workbook.xml`` is checked.
    """
    folders = ["xl"]
    package_rels = members.get("_rels/.rels")
    if package_rels is not None:
        for attrs in _start_tags(_read_small(zf, package_rels), b"Relationship"):
            for key, value in attrs:
                if _local(key) == b"Target":
                    target = value.decode("utf-8", "replace").lower().removeprefix("/")
                    folders.append(target.rpartition("/")[0])
    return [f for f in dict.fromkeys(folders) if _join(f, "workbook.xml") in members]


def _first_sheet_members(
    zf: zipfile.ZipFile, members: dict[str, zipfile.ZipInfo], folder: str
) -> list[zipfile.ZipInfo]:
    """The member(s) calamine may read as the first sheet of the workbook in ``folder``.

    Normally exactly one. Where the workbook is ambiguous (a ``<sheet>`` carrying several
    ids, an id declared twice), every candidate is returned so that all of them get scanned.
    """
    workbook = _read_small(zf, members[_join(folder, "workbook.xml")])
    rels_info = members.get(_join(folder, "_rels/workbook.xml.rels"))
    first_sheet = next(_start_tags(workbook, b"sheet"), None)
    if rels_info is None or first_sheet is None:
        return []
    targets: dict[bytes, set[bytes]] = {}
    for attrs in _start_tags(_read_small(zf, rels_info), b"Relationship"):
        ids = [v for k, v in attrs if _local(k) == b"Id"]
        tos = [v for k, v in attrs if _local(k) == b"Target"]
        for rid in ids:
            targets.setdefault(rid, set()).update(tos)
    candidates: list[str] = []
    for key, value in first_sheet:
        if _local(key).lower() != b"id":
            continue
        for target in targets.get(value, ()):
            path = target.decode("utf-8", "replace").lower()
            candidates.append(path[1:] if path.startswith("/") else _join(folder, path))
            if folder == "xl" and path.startswith("xl/"):  # older calamine kept these as is
                candidates.append(path)
    return [members[c] for c in dict.fromkeys(candidates) if c in members]


# --- worksheet scan ---------------------------------------------------------------------------
#
# Explicit positions are the values of attributes named "r" (cells, rows) or "ref" (the
# dimension, merged cells, shared formulas...). Regexes pick out only values that could be
# over the limits (a range, or a single reference with many digits or letters), so legit
# sheets yield next to nothing; each such value over the limits is then looked up in the text
# and refused when it occurs as the value of an "r" or "ref" attribute.
#
# Implicit positions: a cell without "r" goes right of the previous one and every row end
# moves one row down, so the number of <row> tags and the number of cells between two
# </row> are bounded too. Such a cell can land at most at twice the limits; read_rows
# re-checks the grid calamine returns.
#
# Most sheets are written in one plain style (no namespace prefixes on c/row, name="value"
# attributes, no comments, no markup inside attribute values) where plain byte counting is
# exact enough and runs at C speed. A piece of XML not in that style goes through the
# general path: structure check, comments and prefixes removed, then the same counting.

_NOT_MARKUP = bytes(sorted(set(range(256)) - set(b"<>\"'")))
# letters -> "A", digits -> "9", so that a substring search can rule out big references
_SHAPES = bytes(
    65 if (65 <= b <= 90 or 97 <= b <= 122) else 57 if 48 <= b <= 57 else b
    for b in range(256)
)
_PREFIXED_NAME = re.compile(rb":(?:c|row)[\s/>]")
_ODD_CELL_START = re.compile(rb"<c[>/\t\r\n]")
# ref values (also matches sqref= and the like: what is over the limits gets confirmed)
_FAST_REF = re.compile(rb'ref="([^"<]*)"')
_GENERAL_REF = re.compile(rb"""ref\s*=\s*(["'])(?=([^"'<]*)\1)""")
_ROW_END = re.compile(rb"</row[ \t\r\n]*>")
_ANY_PREFIX = re.compile(rb"""</?[^\s<>/="':!?]*:""")
_STRIP_PREFIX = re.compile(rb"""<[^\s<>/="':!?]*:""")
_STRIP_END_PREFIX = re.compile(rb"""</[^\s<>/="':]*:""")
_CELL_START_VARIANTS = ((b"<c\t", b"<c "), (b"<c\n", b"<c "), (b"<c\r", b"<c "),
                        (b"<c>", b"<c >"), (b"<c/", b"<c /"))
# every r="..." / ref="..." attribute, however spelt (slow; only run when needed)
_POSITION_ATTR = re.compile(
    rb"(?<![\w.:\-\x80-\xff])(?:r|ref)\s*=\s*([\"'])(?=([^\"'<]*)\1)"
)
_REF_PART = re.compile(rb"([A-Za-z]*)([0-9]*)")


@dataclass(frozen=True)
class _ValuePatterns:
    fast: re.Pattern  # r="big", plain style
    general: re.Pattern  # ="big", any spelling
    # neither can match unless one of these is in text.translate(_SHAPES)
    needles: tuple[bytes, ...]
    plain_needles: tuple[bytes, ...]  # the same, for plain style (no single quotes)


@lru_cache(maxsize=32)
def _value_patterns(max_rows: int, max_columns: int) -> _ValuePatterns:
    """Regexes for attribute values that might exceed the limits.

    calamine reads a reference as letters then digits (either case, leading zeros allowed)
    and fails on anything else. "Might exceed" = at least as many significant digits as
    ``max_rows`` or at least as many letters as the last allowed column's name; values are
    compared exactly afterwards.
    """
    digits = len(str(max_rows))
    letters = len(_column_name(max_columns))
    big = rb"[A-Za-z]*0*[1-9][0-9]{%d,}|[A-Za-z]{%d,}[0-9]+" % (digits - 1, letters)
    return _ValuePatterns(
        fast=re.compile(rb'r="(' + big + rb')"'),
        general=re.compile(rb"""=\s*(["'])(?=(""" + big + rb""")\1)"""),
        needles=(b"9" * digits + b'"', b"9" * digits + b"'", b"A" * letters + b"9"),
        plain_needles=(b"9" * digits + b'"', b"A" * letters + b"9"),
    )


def _column_name(n: int) -> str:
    name = ""
    while n > 0:
        n, rem = divmod(n - 1, 26)
        name = chr(65 + rem) + name
    return name or "A"


def _column_number(letters: bytes) -> int:
    n = 0
    for ch in letters.upper():
        n = n * 26 + (ch - 64)
    return n


def _is_plain(text: bytes) -> bool:
    """Whether ``text`` is in the plain style where byte counting is exact enough: no
    comment/CDATA/PI/DOCTYPE, every attribute spelt name="value", no prefixed c/row tags and
    no <c> spelt other than "<c "."""
    if (b"!" in text and b"<!" in text) or (b"?" in text and b"<?" in text):
        return False
    if text.count(b"=") != text.count(b'="'):
        return False  # = 'value', = "value" (or just an "=" in a formula: no matter)
    if b" =" in text:
        return False
    for space in (b"\t", b"\n", b"\r"):
        if space in text and space + b"=" in text:
            return False
    return not (_PREFIXED_NAME.search(text) or _ODD_CELL_START.search(text))


def _no_markup_in_values(text: bytes) -> bool:
    """No "<" or ">" inside quoted attribute values (so a "</row>" is a real row end):
    reduced to its markup and quote characters, with quote pairs removed, every tag must
    read "<>"."""
    skeleton = text.translate(None, _NOT_MARKUP).replace(b'""', b"").replace(b"''", b"")
    return skeleton.count(b"<") == skeleton.count(b"<>")


def _normalise(text: bytes) -> bytes:
    """General path: check the structure, then rewrite ``text`` into the plain style as far
    as counting needs it (no comments/PIs, no prefixes, one spelling of <c and </row>)."""
    text = _clean_xml(text)
    if _ANY_PREFIX.search(text):  # quick-xml drops everything up to the first ":" of a name
        text = _STRIP_END_PREFIX.sub(b"</", _STRIP_PREFIX.sub(b"<", text))
    for old, new in _CELL_START_VARIANTS:
        text = text.replace(old, new)
    return _ROW_END.sub(b"</row>", text)


class _SheetScan:
    """Bounds gathered over the pieces of one worksheet (see the comment above)."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.patterns = _value_patterns(limits.max_rows, limits.max_columns)
        self.max_letters = len(_column_name(limits.max_columns))
        self.rows = 0  # <row> tags
        self.run = 0  # cells since the last </row> (or since the last explicit position)

    def feed(self, text: bytes) -> None:
        plain = _is_plain(text)
        if not plain:
            text = _normalise(text)
        self._check_positions(text, plain)
        self._count(text, plain)

    def _check_positions(self, text: bytes, plain: bool) -> None:
        patterns = self.patterns
        values = set()
        shapes = text.translate(_SHAPES)
        if plain:
            if any(needle in shapes for needle in patterns.plain_needles):
                values.update(patterns.fast.findall(text))
            if b'ref="' in text:
                values.update(_FAST_REF.findall(text))
        else:
            if any(needle in shapes for needle in patterns.needles):
                values.update(value for _, value in patterns.general.findall(text))
            if b"ref" in text:
                values.update(value for _, value in _GENERAL_REF.findall(text))
        over = {}
        for value in values:
            error = self._over_limit(value)
            if error is not None:
                over[value] = error
        if over:  # rare: find out which of these really are r="..." or ref="..."
            positions = {value for _, value in _POSITION_ATTR.findall(text)}
            for value, error in over.items():
                if value in positions:
                    raise ExcelError(error)

    def _over_limit(self, value: bytes):
        limits = self.limits
        for part in value.split(b":"):
            m = _REF_PART.fullmatch(part.strip())
            if not m:
                continue  # not a reference calamine could use
            letters, digits = m.groups()
            if digits and _number(digits) > limits.max_rows:
                return _msg_rows(limits.max_rows)
            if letters and (
                len(letters) > self.max_letters or _column_number(letters) > limits.max_columns
            ):
                return _msg_columns(limits.max_columns)
        return None

    def _count(self, text: bytes, plain: bool) -> None:
        limits = self.limits
        self.rows += text.count(b"<row")
        if self.rows > limits.max_rows:
            raise ExcelError(_msg_rows(limits.max_rows))
        if plain:
            cells = text.count(b"<c ")
            if cells and cells == text.count(b'<c r="'):
                self.run = 0  # every cell carries its position, already checked
                return
            if not _no_markup_in_values(text):
                text = _normalise(text)
        runs = list(map(methodcaller("count", b"<c "), text.split(b"</row>")))
        runs[0] += self.run
        self.run = runs[-1]
        if max(runs) > limits.max_columns:
            raise ExcelError(_msg_columns(limits.max_columns))


def _pieces(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limits: Limits):
    """The XML of one member in pieces of about 1 MB, each cut just before a "<" (no token
    the scanners look for contains one), the XML declaration blanked out."""
    # Read through a copy of the entry that claims the largest size we accept, so that the
    # bytes actually inflated are what gets counted: a size in the directory that lies shows
    # up as a mismatch or a CRC error instead of being believed.
    probe = copy.copy(info)
    probe.file_size = limits.max_member_bytes + 1
    inflated = 0
    tail = b""
    try:
        with zf.open(probe) as fh:
            while chunk := fh.read(_CHUNK):
                if inflated == 0:
                    chunk = _skip_declaration(chunk)
                inflated += len(chunk)
                if inflated > limits.max_member_bytes:
                    raise ExcelError(_msg_bomb())
                buf = tail + chunk if tail else chunk
                cut = buf.rfind(b"<")
                if cut > 0:
                    yield buf[:cut]
                    buf = buf[cut:]
                if len(buf) > _MAX_TAIL:
                    raise ExcelError(_msg_damaged())
                tail = buf
    except ExcelError:
        raise
    except Exception:  # BadZipFile (CRC), zlib.error, EOFError, NotImplementedError...
        raise ExcelError(_msg_damaged()) from None
    if inflated != info.file_size:
        raise ExcelError(_msg_damaged())
    yield tail


def _scan_sheet(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limits: Limits) -> None:
    """Stream one worksheet and bound what calamine would build from it."""
    scan = _SheetScan(limits)
    for piece in _pieces(zf, info, limits):
        scan.feed(piece)


# calamine reserves room for uniqueCount strings up front: a huge value aborts the process
_UNIQUE_COUNT = re.compile(rb"""uniqueCount\s*=\s*(["'])\s*\+?([0-9]+)""")


def _check_shared_strings(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo | None, limits: Limits
) -> None:
    if info is None:
        return
    # an <si/> takes at least 5 bytes; no workbook we accept needs more strings than cells
    bound = min(info.file_size // 5 + 16, limits.max_rows * limits.max_columns)
    for piece in _pieces(zf, info, limits):
        if b"uniqueCount" in piece:
            for _, digits in _UNIQUE_COUNT.findall(piece):
                if _number(digits) > bound:
                    raise ExcelError(_msg_damaged())


def _number(digits: bytes) -> int:
    """int() of a digit string of any length (int() refuses more than 4300 digits)."""
    digits = digits.lstrip(b"0")
    return int(digits) if len(digits) <= 20 else 10**20


def _skip_declaration(chunk: bytes) -> bytes:
    """Drop a UTF-8 BOM and the XML declaration; refuse what is not UTF-8 XML."""
    if b"\x00" in chunk[:4096]:
        raise ExcelError(_msg_damaged())  # UTF-16 or binary
    text = chunk.removeprefix(b"\xef\xbb\xbf")
    if text.startswith(b"<?xml"):
        end = text.find(b"?>")
        if end < 0:
            raise ExcelError(_msg_damaged())
        text = text[end + 2 :]
    return b" " * (len(chunk) - len(text)) + text  # keep the byte count honest


# --- reading ----------------------------------------------------------------------------------


def read_rows(data: bytes, limits: Limits = _DEFAULT_LIMITS) -> list[tuple[int, list]]:
    """All rows of the first sheet as ``(excel_row_number, values)``, row numbers from 1.

    Values are as calamine gives them: numbers as float (or int), empty cells as ``''``,
    dates as ``datetime.date``/``datetime.datetime``, strings untouched (not stripped).
    """
    inspect_xlsx(data, limits)
    try:
        with python_calamine.load_workbook(io.BytesIO(data)) as workbook:
            rows = workbook.get_sheet_by_index(0).to_python(skip_empty_area=False)
    except BaseException as exc:  # CalamineError, XmlError, ZipError, WorksheetNotFound...
        # ...and pyo3's PanicException (a Rust panic), which is not an Exception
        if not isinstance(exc, Exception) and type(exc).__name__ != "PanicException":
            raise
        detail = (str(exc).splitlines() or [""])[0][:200]
        reason = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
        raise ExcelError(
            _l("The file could not be read as a spreadsheet: %(reason)s", reason=reason)
        ) from None
    # belt and braces: cells without a position can land beyond what the scan bounded
    if len(rows) > limits.max_rows:
        raise ExcelError(_msg_rows(limits.max_rows))
    if rows and len(rows[0]) > limits.max_columns:
        raise ExcelError(_msg_columns(limits.max_columns))
    return list(enumerate(rows, start=1))


# --- writing ----------------------------------------------------------------------------------

_NOTES_SHEET = "说明"


def write_xlsx(
    headers: list[str],
    rows: Iterable[Sequence],
    *,
    text_columns: set[int] | frozenset[int] = frozenset(),
    sheet_name: str = "Sheet1",
    column_widths: dict[int, int] | None = None,
    notes: list[str] | None = None,
) -> bytes:
    """Build an .xlsx in memory: bold, frozen header row; ``text_columns`` (0-based) are
    formatted as text for the whole column, so what users type there (identity numbers,
    phone numbers) stays text. Every string is written as a string, never as a formula or
    link, so "=cmd|..." stays inert. ``notes`` go one per line on a second sheet "说明".
    """
    out = io.BytesIO()
    workbook = xlsxwriter.Workbook(
        out,
        {
            "in_memory": True,
            "constant_memory": True,
            "strings_to_formulas": False,
            "strings_to_urls": False,
            "strings_to_numbers": False,
        },
    )
    bold = workbook.add_format({"bold": True})
    text = workbook.add_format({"num_format": "@"})
    date_fmt = workbook.add_format({"num_format": "yyyy-mm-dd"})
    datetime_fmt = workbook.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    money_fmt = workbook.add_format({"num_format": "#,##0.00"})
    widths = column_widths or {}

    sheet = workbook.add_worksheet(sheet_name)
    for col in sorted(set(widths) | set(text_columns)):
        sheet.set_column(col, col, widths.get(col), text if col in text_columns else None)
    for col, header in enumerate(headers):
        sheet.write_string(0, col, "" if header is None else str(header), bold)
    sheet.freeze_panes(1, 0)

    for r, row in enumerate(rows, start=1):
        for c, value in enumerate(row):
            if c in text_columns:
                if value is None or value == "":
                    continue
                sheet.write_string(r, c, neutralise(_as_text(value)), text)
            else:
                _write_value(sheet, r, c, value, date_fmt, datetime_fmt, money_fmt)

    if notes:
        wrap = workbook.add_format({"text_wrap": True, "valign": "top"})
        info = workbook.add_worksheet(_NOTES_SHEET)
        info.set_column(0, 0, 100, wrap)
        for r, line in enumerate(notes):
            info.write_string(r, 0, str(line), wrap)

    workbook.close()
    return out.getvalue()


#: what spreadsheets take for the start of a formula (OWASP "CSV injection")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(text: str) -> str:
    """'=1+1' -> "'=1+1": a cell a spreadsheet would evaluate becomes plain text."""
    return "'" + text if text.startswith(_FORMULA_START) else text


def _as_text(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _write_value(sheet, r: int, c: int, value, date_fmt, datetime_fmt, money_fmt) -> None:
    if value is None or value == "":
        return
    if isinstance(value, str):
        sheet.write_string(r, c, neutralise(value))
    elif isinstance(value, bool):
        sheet.write_boolean(r, c, value)
    elif isinstance(value, int | float) and math.isfinite(value):
        sheet.write_number(r, c, value)
    elif isinstance(value, dt.datetime):
        sheet.write_datetime(r, c, value.replace(tzinfo=None), datetime_fmt)
    elif isinstance(value, dt.date):
        sheet.write_datetime(r, c, value, date_fmt)
    elif isinstance(value, Decimal) and value.is_finite():
        # money: Excel holds doubles; two decimals shown, the exact figure is in the totals row
        sheet.write_number(r, c, float(value), money_fmt)
    else:
        sheet.write_string(r, c, neutralise(str(value)))
