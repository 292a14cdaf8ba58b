"""`flask courses ...`: import course folders."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask.cli import with_appcontext

from lms.extensions import db


@click.group("courses")
def courses_group():
    """Course content (courses/ folders)."""


@courses_group.command("import")
@click.argument("path", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--check", is_flag=True, help="Only check the folders; write nothing.")
@click.option("--force", is_flag=True, help="Rewrite courses whose files did not change.")
@with_appcontext
def import_command(path: Path, check: bool, force: bool):
    """Check every course under PATH, then import them all (or nothing, if any has a problem)."""
    from lms.catalog.service import CourseImportError, check_courses, import_courses
    from lms.core.actors import CLI

    if check:
        courses, problems = check_courses(path)
        for problem in problems:
            click.echo(str(problem), err=True)
        click.echo(f"{len(courses)} course(s) read, {len(problems)} problem(s)")
        sys.exit(1 if problems else 0)
    try:
        report = import_courses(CLI, path, force=force)
    except CourseImportError as err:
        db.session.rollback()
        for problem in err.problems:
            click.echo(str(problem), err=True)
        click.echo(f"{len(err.problems)} problem(s); nothing was imported", err=True)
        sys.exit(1)
    db.session.commit()
    click.echo(f"created: {', '.join(report.created) or '-'}; updated: {', '.join(report.updated) or '-'}; "
               f"unchanged: {', '.join(report.unchanged) or '-'}")


@courses_group.command("import-exam-bank")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--check", is_flag=True, help="Only check the files; write nothing.")
@with_appcontext
def import_exam_bank_command(path: Path, check: bool):
    """Check every exam bank file at PATH (a .toml file or a folder), then import them all (or
    nothing, if any has a problem). Exams draw only from these, never from the courses' self-checks."""
    from lms.catalog.exam_bank import ExamBankImportError, check_exam_banks, import_exam_banks
    from lms.core.actors import CLI

    if check:
        bank, problems = check_exam_banks(path)
        for problem in problems:
            click.echo(str(problem), err=True)
        click.echo(f"{sum(len(q) for q in bank.questions.values())} question(s) read, "
                   f"{len(problems)} problem(s)")
        sys.exit(1 if problems else 0)
    try:
        report = import_exam_banks(CLI, path)
    except ExamBankImportError as err:
        db.session.rollback()
        for problem in err.problems:
            click.echo(str(problem), err=True)
        click.echo(f"{len(err.problems)} problem(s); nothing was imported", err=True)
        sys.exit(1)
    db.session.commit()
    click.echo(str(report))
