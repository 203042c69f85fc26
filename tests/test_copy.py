"""Moving a project (`db copy`) between SQLite and PostgreSQL, and what a PostgreSQL project's
`backup`, `check` and `workflows test` do."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest
from conftest import APP, REPO, Server, query
from typer.testing import CliRunner

from salesflow.config.model import DatabaseUrl
from salesflow.store.db import connect
from salesflow.store.migrations import MIGRATIONS


def run_the_demo(folder: Path) -> Path:
    """The README's demo (scripts/demo.py: an import, two forms, a tick a day for two weeks,
    the team's moves, tickets and reports) run in-process (faster) in `folder`."""
    spec = importlib.util.spec_from_file_location("demo_script", REPO / "scripts" / "demo.py")
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    runner = CliRunner()

    def salesflow(*args: str, now: str | None = None, say: str = "", code: int = 0) -> None:
        clock = ["--now", now] if now else []
        result = runner.invoke(APP, ["--project", str(folder), *clock, *args])
        assert result.exit_code == code, (args, result.output)

    demo.DEMO, demo.salesflow = folder, salesflow
    demo.main()
    return folder


@pytest.fixture(scope="module")
def two_weeks(tmp_path_factory) -> Path:
    """The demo's project after its two weeks, on SQLite (run once: it takes seconds)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("SALESFLOW_DB", raising=False)
        patch.delenv("SALESFLOW_NOW", raising=False)
        return run_the_demo(tmp_path_factory.mktemp("two-weeks") / "demo")


@pytest.fixture
def project(two_weeks, tmp_path) -> Path:
    """A copy of the demo after its two weeks, for one test to change."""
    return shutil.copytree(two_weeks, tmp_path / "project")


def tables_of(path: Path) -> dict[str, list[str]]:
    """Every table of a SQLite database, its rows as their repr (1, 1.0 and '1' differ),
    sorted, and the schema."""
    with sqlite3.connect(path) as connection:
        schema = connection.execute("SELECT name, sql FROM sqlite_master ORDER BY name")
        tables = {"(schema)": [repr(row) for row in schema]}
        for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
            rows = connection.execute(f'SELECT * FROM "{name}"').fetchall()
            tables[name] = sorted(repr(row) for row in rows)
    return tables


def copy_to(cli, project: Path, target: Path | str):
    return cli("--project", project, "db", "copy", "--to", target)


def test_the_demo_goes_to_postgresql_and_back_with_every_table_equal(
    cli, project, tmp_path, postgres_url, monkeypatch
):
    original = tables_of(project / "salesflow.db")
    assert len(original["run_steps"]) > 30 and len(original["outbox"]) > 15
    there = copy_to(cli, project, postgres_url)
    assert there.exit_code == 0, there.output
    rows = sum(len(original[name]) for name in original if name != "(schema)")
    said = f"copied {len(original) - 1} tables, {rows} rows; rows and checksums match"
    assert there.output.splitlines()[-1] == said
    monkeypatch.setenv("SALESFLOW_DB", postgres_url)
    back = copy_to(cli, project, tmp_path / "back.db")
    assert back.exit_code == 0, back.output
    assert tables_of(tmp_path / "back.db") == original
    assert there.output == back.output  # the same rows and checksums read on both engines


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request, tmp_path) -> Path | str:
    """A new database of either engine to copy into."""
    if request.param == "postgresql":
        return request.getfixturevalue("postgres_url")
    return tmp_path / "new.db"


def count(target: Path | str, table: str) -> int:
    """The rows of a table in a database that is not the project's."""
    if isinstance(target, Path):
        with sqlite3.connect(target) as connection:
            return connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    import psycopg  # only where PostgreSQL is installed

    with psycopg.connect(target) as connection:
        return connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def test_a_database_holding_rows_is_refused_and_left_as_it_was(cli, project, target):
    assert copy_to(cli, project, target).exit_code == 0
    again = copy_to(cli, project, target)
    assert again.exit_code == 1
    assert re.fullmatch(
        rf"error: {re.escape(str(target))}: the database is not empty \(1\d of its tables hold"
        r" rows: contacts, events, inbound…\): copy into a new, empty one\n",
        again.output,
    )
    assert count(target, "contacts") == 3


def test_another_applications_database_is_refused_before_anything_is_written_to_it(
    cli, project, target
):
    """Not even salesflow's tables are created in it first (nor, for a file, its journal
    mode changed): the user named the wrong database, and it stays as it was."""
    if isinstance(target, Path):
        with sqlite3.connect(target) as connection:
            connection.execute("CREATE TABLE notes (id integer PRIMARY KEY, body text)")
        before = target.read_bytes()
    else:
        import psycopg

        with psycopg.connect(target, autocommit=True) as connection:
            connection.execute("CREATE TABLE notes (id integer PRIMARY KEY, body text)")
    refused = copy_to(cli, project, target)
    assert refused.exit_code == 1
    shown = target if isinstance(target, Path) else target.split("?")[0]
    assert refused.output.startswith(f"error: {shown}")
    assert refused.output.endswith(
        ": it holds tables salesflow does not make (notes): copy into a new, empty database\n"
    )
    if isinstance(target, Path):
        assert target.read_bytes() == before
    else:
        with psycopg.connect(target) as connection:
            tables = connection.execute("SELECT tablename FROM pg_tables"
                                        " WHERE schemaname = 'public'").fetchall()  # fmt: skip
        assert tables == [("notes",)]


def test_a_file_that_is_not_a_database_is_refused_and_kept(cli, project, tmp_path):
    letter = tmp_path / "letter.db"
    letter.write_text("Dear Marie,\n")
    refused = copy_to(cli, project, letter)
    assert refused.output == f"error: {letter}: not a SQLite database: name a new file\n"
    assert letter.read_text() == "Dear Marie,\n"


def test_the_projects_own_database_is_refused(cli, project):
    refused = copy_to(cli, project, project / "salesflow.db")
    assert refused.exit_code == 1
    assert "this is the project's own database: name another one" in refused.output


TAMPER = {  # the target stores another first name than the one written: as a failing disk,
    # a conversion or a trigger would
    "sqlite": [
        "CREATE TRIGGER tamper AFTER INSERT ON contacts BEGIN"
        " UPDATE contacts SET first_name = 'Julia' WHERE id = new.id; END"
    ],
    "postgresql": [
        "CREATE FUNCTION tamper() RETURNS trigger LANGUAGE plpgsql AS"
        " $$ BEGIN NEW.first_name := 'Julia'; RETURN NEW; END $$",
        "CREATE TRIGGER tamper BEFORE INSERT ON contacts FOR EACH ROW EXECUTE FUNCTION tamper()",
    ],
}


def test_a_row_that_changed_on_the_way_fails_the_copy_and_nothing_is_kept(cli, project, target):
    created = connect(DatabaseUrl.parse(str(target)) or target)
    for statement in TAMPER[created.dialect]:
        created.execute(statement)
    created.close()
    copied = copy_to(cli, project, target)
    assert copied.exit_code == 1
    lines = copied.output.splitlines()
    assert lines[0].startswith("DIFFERS contacts                 3 rows  sha256 ")
    assert "target: 3 rows, sha256 " in lines[0]
    assert lines[-1] == (
        f"error: {target}: contacts: not the same in the target as in the source after the"
        " copy (rows or checksum); nothing was kept"
    )
    assert count(target, "contacts") == count(target, "run_steps") == 0


def test_an_amount_with_cents_where_postgresql_keeps_integers_fails_the_copy(
    cli, project, postgres_url
):
    with sqlite3.connect(project / "salesflow.db") as connection:  # SQLite keeps it as is
        connection.execute("UPDATE deals SET amount = 24050.5 WHERE id = 1")
    copied = copy_to(cli, project, postgres_url)
    assert copied.exit_code == 1
    assert copied.output.splitlines()[-1].startswith(
        f"error: {postgres_url}: deals: a row was refused (invalid input syntax for type"
        ' bigint: "24050.5"'
    )
    assert count(postgres_url, "contacts") == count(postgres_url, "deals") == 0


def test_after_a_copy_to_postgresql_new_rows_get_the_next_ids(
    cli, project, postgres_url, monkeypatch
):
    assert copy_to(cli, project, postgres_url).exit_code == 0
    monkeypatch.setenv("SALESFLOW_DB", postgres_url)

    def added(*command: str) -> int:
        result = cli("--project", project, "--now", "2026-12-08T10:00", *command, "--json")
        assert result.exit_code == 0, result.output
        return json.loads(result.output)["id"]

    assert added("contacts", "add", "zoe@example.org") == 4  # after the 3 contacts copied
    assert added("deals", "add", "--title", "Zoé", "--contact", "zoe@example.org") == 6


def test_workflows_test_on_postgresql_runs_on_a_scratch_sqlite_copy(
    cli, project, postgres_url, monkeypatch, tmp_path
):
    assert copy_to(cli, project, postgres_url).exit_code == 0
    monkeypatch.setenv("SALESFLOW_DB", postgres_url)
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"type": "form.submitted", "form": "cours-essai", "data": {
        "email": "julie.martin@example.org", "prenom": "Julie",
        "date_essai": "2026-12-12T18:30:00+01:00"}}))  # fmt: skip
    tested = cli("--project", project, "--now", "2026-12-08T10:00", "workflows", "test",
                 "essai-formulaire", "--event", event)  # fmt: skip
    assert tested.exit_code == 0, tested.output
    assert "(a throw-away copy of the database: nothing was written)" in tested.output
    assert "created contact" not in tested.output  # Julie is in the copy, from the two weeks
    assert query(project, "SELECT count(*) FROM runs") == [(12,)]


def test_check_on_postgresql_says_the_server_and_schema_version(sf, postgres_url, monkeypatch):
    monkeypatch.setenv("SALESFLOW_DB", postgres_url)
    result = sf("check")
    shown = DatabaseUrl(postgres_url).shown
    assert f"ok      database: {shown}: PostgreSQL 15." in result.output
    assert f", schema version {len(MIGRATIONS)}\n" in result.output


def test_backup_of_a_postgresql_database_is_pg_dumps_archive(
    cli, project, postgres_url, monkeypatch
):
    assert copy_to(cli, project, postgres_url).exit_code == 0
    monkeypatch.setenv("SALESFLOW_DB", postgres_url)
    archive = project / "backup.dump"
    result = cli("--project", project, "backup", archive)
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"backed up to {archive} (")
    assert f"pg_restore --dbname=URL {archive}" in result.output
    contacts = subprocess.run(
        ["pg_restore", "--data-only", "--table=contacts", "--file=-", archive],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "julie.martin@example.org" in contacts


def test_backup_without_pg_dump_says_the_command_to_run(sf, postgres_url, monkeypatch, tmp_path):
    monkeypatch.setenv("SALESFLOW_DB", postgres_url)
    monkeypatch.setenv("PATH", str(tmp_path))
    result = sf("backup", tmp_path / "b.dump", code=1)
    shown = DatabaseUrl(postgres_url).shown
    assert result.output == (
        f"error: {shown}: a PostgreSQL database is backed up with pg_dump, not found here:"
        " install the PostgreSQL client (apt-get install postgresql-client), or run"
        f" `pg_dump -Fc -f {tmp_path / 'b.dump'} {shown}` where it is\n"
    )


def test_backup_gives_pg_dump_the_password_out_of_its_command_line(
    cli, project, postgres_url, monkeypatch, tmp_path
):
    spy = tmp_path / "bin" / "pg_dump"  # records what it was given, writes an empty archive
    spy.parent.mkdir()
    spy.write_text(
        '#!/bin/sh\necho "$@" > "$0.args"\necho "$PGPASSWORD" > "$0.password"\n'
        'for a in "$@"; do case "$a" in --file=*) : > "${a#--file=}";; esac; done\n'
    )
    spy.chmod(0o755)
    monkeypatch.setenv("PATH", f"{spy.parent}:{os.environ['PATH']}")
    monkeypatch.setenv("SALESFLOW_DB", postgres_url.replace(":///", "://postgres:s3cret@/"))
    result = cli("--project", project, "backup", tmp_path / "b.dump")
    assert result.exit_code == 0, result.output
    assert "s3cret" not in Path(f"{spy}.args").read_text()
    assert Path(f"{spy}.password").read_text() == "s3cret\n"


def test_check_on_postgresql_while_serve_runs_reports_no_lost_file(sf, postgres_url, monkeypatch):
    monkeypatch.setenv("SALESFLOW_DB", postgres_url)
    server = Server(sf.project, "--no-worker")
    try:
        result = sf("check")
    finally:
        server.stop()
    assert "PROBLEM" not in result.output
    assert "serve" not in result.output  # no database file to compare on PostgreSQL


def test_a_file_target_in_a_missing_folder_is_named_as_such(cli, project, tmp_path):
    copied = copy_to(cli, project, tmp_path / "nowhere" / "club.db")
    assert copied.exit_code == 1
    assert copied.output == (
        f"error: --to {tmp_path}/nowhere/club.db: the folder {tmp_path}/nowhere does not"
        " exist: create it\n"
    )
