"""The shape DESIGN.md §3 fixes, checked on the source: the dependency arrow, core knows no domain."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

LMS = Path(__file__).resolve().parent.parent / "lms"

#: DESIGN §3: core <- auth <- registry <- ledger <- catalog <- learning <- scheduling/exams
#: <- certificates <- subsidies <- compliance <- enforcement <- api. Siblings share a rank
#: and may not import each other.
ARROW = ["core", "auth", "registry", "ledger", "catalog", "learning", ("scheduling", "exams"),
         "certificates", "subsidies", "compliance", "enforcement", "api"]
RANK = {name: rank for rank, names in enumerate(ARROW)
        for name in (names if isinstance(names, tuple) else (names,))}
#: plumbing every package may use
FOUNDATION = {"config", "extensions"}
#: create_app (lms/__init__.py), the CLI, the demo and jobs sit above every package
TOP = {"__init__", "cli", "demo", "demo_names", "jobs"}


def _imported_modules(path: Path) -> list[tuple[int, str]]:
    """Every lms module `path` imports, at module level or inside functions."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = ".".join(("lms", *path.relative_to(LMS).with_suffix("").parts))
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                module = ".".join([*base, module] if module else base)
            if module == "lms":  # from lms import registry
                found += [(node.lineno, f"lms.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, module))
    return [(line, name) for line, name in found if name == "lms" or name.startswith("lms.")]


def _violations() -> list[str]:
    wrong = []
    for path in sorted(LMS.rglob("*.py")):
        parts = path.relative_to(LMS).parts
        if len(parts) == 1:
            continue  # create_app, the CLI, the demo, config and extensions
        owner = parts[0]
        if owner not in RANK:
            wrong.append(f"{path.relative_to(LMS.parent)}: package '{owner}' is not on the arrow "
                         "of DESIGN.md §3; add it there and here")
            continue
        for line, name in _imported_modules(path):
            target = name.split(".")[1] if "." in name else "__init__"
            if target in FOUNDATION or target == owner:
                continue
            if target in TOP or target not in RANK or RANK[target] >= RANK[owner]:
                wrong.append(f"{path.relative_to(LMS.parent)}:{line} imports {name} "
                             f"({owner} may only import packages to its left)")
    return wrong


def test_no_import_runs_against_the_arrow():
    assert _violations() == []


@pytest.mark.parametrize("source, expected", [
    ("from lms.exams import service\n", "lms.exams"),
    ("def f():\n    import lms.subsidies.models\n", "lms.subsidies.models"),
    ("from lms import certificates\n", "lms.certificates"),
    ("from ..api import x\n", "lms.api"),
])
def test_the_checker_sees_every_kind_of_import(tmp_path, monkeypatch, source, expected):
    fake = tmp_path / "lms"
    (fake / "learning").mkdir(parents=True)
    (fake / "learning" / "service.py").write_text(source, encoding="utf-8")
    monkeypatch.setitem(globals(), "LMS", fake)
    names = [name for _line, name in _imported_modules(fake / "learning" / "service.py")]
    assert expected in names
    problems = _violations()
    assert problems and "learning/service.py" in problems[0]


def test_a_lower_package_importing_a_sibling_or_the_app_is_refused(tmp_path, monkeypatch):
    fake = tmp_path / "lms"
    (fake / "exams").mkdir(parents=True)
    (fake / "exams" / "views.py").write_text(
        "from lms.scheduling import service\nfrom lms import create_app\n"
        "from lms.core import audit\nfrom lms.extensions import db\n", encoding="utf-8")
    monkeypatch.setitem(globals(), "LMS", fake)
    problems = _violations()
    assert len(problems) == 2
    assert "lms.scheduling" in problems[0] and "lms.create_app" in problems[1]


#: settings keys that belong to a domain: core may not define or mention them
DOMAIN_PREFIXES = tuple(f"{name}." for name in RANK if name != "core")


def test_core_settings_know_no_domain():
    text = (LMS / "core" / "settings.py").read_text(encoding="utf-8")
    keys = re.findall(r"[\"']([a-z_]+\.[a-z_.]+)[\"']", text)
    assert [k for k in keys if k.startswith(DOMAIN_PREFIXES) or k.split(".")[0] in
            {"hours", "certification"}] == []
    assert "define(\"" not in text and "define('" not in text


def test_downloads_name_their_files_through_send_file():
    # a hand-built header breaks non-ASCII names in some browsers; send_file writes both forms
    built = []
    for path in LMS.rglob("*.py"):
        for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if "Content-Disposition" in line and "headers[" in line:
                built.append(f"{path.relative_to(LMS.parent)}:{line_no}")
    assert built == []


def test_templates_never_compare_state_literals():
    """What a page offers (and how it shows a state) comes from the service or the model,
    never from a template comparing a state's code."""
    compares = re.compile(r"\.(state|status|result)\s*(==|!=|in)\s*['\"(]")
    found = []
    for path in LMS.rglob("*.html"):
        for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if compares.search(line):
                found.append(f"{path.relative_to(LMS.parent)}:{line_no}")
    assert found == []
