"""`salesflow plan`: what it foresees is what ticking through the same days does, a change of
configuration shows as what it changes, the real database and folders are never touched,
and its limits and mistakes are said — all through the real command line, time set with
--now."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest
from conftest import query

START = "2026-11-22T10:00"  # the demo after its forms of 22 November
ENDED = ("done", "cancelled", "failed")
MEMBERS = {"marie": "marie@club.example", "paul": "paul@club.example"}


def salesflow(cli, project: Path, now: str, *args: str, code: int = 0):
    result = cli("--project", project, "--now", now, *args)
    assert result.exit_code == code, result.output
    return result


def after_the_forms(cli, demo: Path) -> Path:
    """The demo as the quick start leaves it: the prospects imported on 21 November, the
    two forms of 22 November taken from the inbox and ticked (welcome emails sent, Julie's
    and Inès's reminders waiting)."""
    for form, folder in (("julie.json", "cours-essai"), ("tally-ines.json", "cours-essai-tally")):
        (demo / "inbox" / folder).mkdir(parents=True)
        shutil.copy(demo / "examples" / "forms" / form, demo / "inbox" / folder)
    salesflow(cli, demo, "2026-11-21T18:00", "import", demo / "examples" / "prospects.csv",
              "--pipeline", "cours-essai", "--stage", "nouveau")  # fmt: skip
    salesflow(cli, demo, START, "ingest", "--inbox")
    salesflow(cli, demo, START, "tick")
    return demo


def planned(cli, project: Path, *options: str, now: str = START) -> dict:
    return json.loads(salesflow(cli, project, now, "plan", *options, "--json").output)


# -- what the plan lists is what ticking does


FOLLOW_UP = """\
id: relance-oubli
name: Relance des prospects oubliés
trigger:
  event: deal.stalled
  match: {pipeline: cours-essai, stage: nouveau}
send_window: {days: [mon, tue, wed, thu, fri], from: "09:00", to: "18:00"}
steps:
  - id: appeler
    create_task: {title: "Rappeler {{ contact.first_name }}", assignee: owner, due_in: 2d}
  - id: attendre
    wait: 3d
  - id: relance
    send_email: {to: contact, template: invitation-essai}
  - id: etape
    update_deal: {next_step: Relancé par e-mail}
  - id: crm
    http:
      url: "https://crm.example/hooks/{{ env.CRM_TOKEN }}"
      json: {deal: "{{ deal.id }}", etape: "{{ deal.next_step }}"}
  - id: abandon
    move_deal: {stage: perdu, reason: Sans réponse}
"""


A_REQUEST = ("tickets", "add", "--subject", "Changer de créneau", "--contact",
             "julie.martin@example.org")  # fmt: skip


@pytest.mark.parametrize(
    ("workflows", "then"),
    [({}, ()), ({"relance-oubli.yaml": FOLLOW_UP}, ()), ({}, A_REQUEST)],
    ids=["demo", "demo-with-follow-up", "demo-with-a-members-request"],
)
def test_the_plan_lists_what_ticking_through_its_moments_does(cli, demo, tmp_path, workflows, then):
    """What ticking a copy of the database at each moment the plan visited writes — emails,
    notifications and requests in the outbox, tasks, moves, stalls, runs ended — is what
    the plan lists, each at its moment. With a follow-up on stalled prospects (a task, a
    wait, an email in a send window, an update, a request, a move), and with a member's
    request (a ticket: its owner told, a request, then urgent and a task when it stalls)."""
    for name, text in workflows.items():
        (demo / "workflows" / name).write_text(text)
    after_the_forms(cli, demo)
    if then:
        salesflow(cli, demo, START, *then)
    ticked = shutil.copytree(demo, tmp_path / "ticked")
    before = _marks(ticked)
    plan = planned(cli, demo, "--days", "14")
    for moment in plan["moments"]:
        salesflow(cli, ticked, moment, "tick")
    assert _foreseen(plan["effects"]) == _happened(ticked, before)
    assert plan["moments"][0] == "2026-11-22T10:00:00+01:00"
    assert plan["moments"][-1] <= "2026-12-06T10:00:00+01:00"


def test_on_the_demo_each_effect_is_due_at_its_wake_up_or_slot(cli, demo):
    """Julie's reminder at her wait's wake-up (24 h before 5 December 18:30), the Monday
    digests at their 08:00 slot, Œdipe's stall the second his 3 days in `nouveau` are up;
    Inès's reminder (11 December) is after the 14 days."""
    after_the_forms(cli, demo)
    [julie] = [run for run in _runs(cli, demo) if run["contact"] == "julie.martin@example.org"]
    assert julie["wake_at"] == "2026-12-04T18:30:00+01:00"
    plan = planned(cli, demo, "--days", "14")
    things = [(e["at"], e["kind"], e["workflow"], e["step"], e["record"]) for e in plan["effects"]
              if e["kind"] not in ("run started", "run ended")]  # fmt: skip
    assert things == [
        ("2026-11-23T08:00:00+01:00", "notification", "revue-hebdo", "revue", None),
        ("2026-11-24T18:00:01+01:00", "stalled", None, None, "cours-essai #3 Œdipe Lefèvre"),
        ("2026-11-30T08:00:00+01:00", "notification", "revue-hebdo", "revue", None),
        ("2026-12-04T18:30:00+01:00", "email", "essai-formulaire", "rappel",
         "cours-essai #1 Julie Martin"),
    ]  # fmt: skip
    assert plan["counts"] == {"email": 1, "notification": 2, "stalled": 1, "run started": 2,
                              "run ended": 3}  # fmt: skip


def _runs(cli, project: Path) -> list[dict]:
    return json.loads(salesflow(cli, project, START, "runs", "list", "--json").output)


def _marks(project: Path) -> dict[str, int]:
    """The last row of each table a tick writes what it did to."""
    tables = ("outbox", "tasks", "stage_history", "events", "runs")
    return {table: query(project, f"SELECT coalesce(max(id), 0) FROM {table}")[0][0]
            for table in tables}  # fmt: skip


def _local(stored: str) -> str:
    """A stored instant (UTC) as the plan shows it: ISO with the project's offset."""
    from zoneinfo import ZoneInfo

    moment = datetime.fromisoformat(stored.replace("Z", "+00:00"))
    return moment.astimezone(ZoneInfo("Europe/Paris")).isoformat()


def _happened(project: Path, before: dict[str, int]) -> Counter:
    """What the ticks did after `before`, as a person reading the database sees it."""
    seen: Counter = Counter()
    for at, to, subject in query(
        project, "SELECT created_at, to_addr, subject FROM outbox WHERE id > ?",
        before["outbox"],
    ):  # fmt: skip
        seen[("message", _local(at), to, subject)] += 1
    for at, title, assignee, due in query(
        project, "SELECT created_at, title, assignee, due_at FROM tasks WHERE id > ?",
        before["tasks"],
    ):  # fmt: skip
        due = datetime.fromisoformat(_local(due)).strftime("%Y-%m-%d %H:%M")
        seen[("task", _local(at), title, assignee or "nobody", due)] += 1
    for at, deal, to_stage in query(
        project, "SELECT at, deal_id, to_stage FROM stage_history WHERE id > ?",
        before["stage_history"],
    ):  # fmt: skip
        seen[("move", _local(at), deal, to_stage)] += 1
    for at, deal in query(
        project, "SELECT created_at, subject_id FROM events WHERE id > ? AND type LIKE '%.stalled'",
        before["events"],
    ):  # fmt: skip
        seen[("stalled", _local(at), deal)] += 1
    for at, workflow, status in query(
        project, "SELECT updated_at, workflow, status FROM runs WHERE status IN (?, ?, ?)"
        " AND (id > ? OR updated_at > ?)", *ENDED, before["runs"], "2026-11-22T09:00:00Z",
    ):  # fmt: skip
        seen[("run ended", _local(at), workflow, status)] += 1
    return seen


def _foreseen(effects: list[dict]) -> Counter:
    """The plan's effects in the same terms as _happened."""
    seen: Counter = Counter()
    for effect in effects:
        at, kind, values = effect["at"], effect["kind"], effect["values"]
        if kind == "email":
            seen[("message", at, values["to"], values["subject"])] += 1
        elif kind == "notification":
            for member in values["who"].split(", "):
                seen[("message", at, MEMBERS[member], values["subject"])] += 1
        elif kind == "request":
            seen[("message", at, values["url"], values["method"])] += 1
        elif kind == "task":
            seen[("task", at, values["title"], values["assignee"], values["due"])] += 1
        elif kind == "move":
            seen[("move", at, _deal_number(effect["record"]), values["to_stage"])] += 1
        elif kind == "stalled":
            seen[("stalled", at, _deal_number(effect["record"]))] += 1
        elif kind == "run ended":
            seen[("run ended", at, effect["workflow"], values["status"])] += 1
    return seen


def _deal_number(record: str) -> int:
    return int(record.split("#")[1].split()[0])


# -- what a change of configuration changes


def git(folder: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=Marie", "-c", "user.email=marie@club.example",
         "-c", "init.defaultBranch=main", *args],
        cwd=folder, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout


def in_git(project: Path) -> Path:
    """The project's configuration committed on `main`, the database and folders ignored."""
    (project / ".gitignore").write_text("salesflow.db*\n.salesflow*\ninbox/\noutbox/\n")
    git(project, "init", "-q")
    git(project, "add", ".")
    git(project, "commit", "-qm", "the club's configuration")
    return project


def remind_two_days_before(project: Path) -> None:
    workflow = project / "workflows" / "essai-formulaire.yaml"
    text = workflow.read_text()
    assert "before: 24h" in text
    workflow.write_text(text.replace("before: 24h", "before: 48h"))


def test_a_reminder_two_days_before_moves_each_reminder_by_a_day_and_nothing_else(cli, demo):
    after_the_forms(cli, demo)
    in_git(demo)
    git(demo, "checkout", "-qb", "rappel-48h")
    remind_two_days_before(demo)
    git(demo, "commit", "-qam", "the reminder two days before")
    result = salesflow(cli, demo, START, "plan", "--days", "21", "--against", "main",
                       "--exit-code", code=4)  # fmt: skip
    assert result.output.splitlines()[0] == "2 différences avec main"
    assert [line for line in result.output.splitlines() if line.startswith("  ")] == [
        "  ~  4 déc. 2026 18:30 → 3 déc. 2026 18:30  e-mail  cours-essai #1 Julie Martin"
        "  e-mail n° 9 à julie.martin@example.org : « Rappel : votre cours d'essai samedi"
        " à 18:30 »",
        "  ~  11 déc. 2026 18:30 → 10 déc. 2026 18:30  e-mail  cours-essai #2 Inès Bréval"
        "  e-mail n° 12 à ines.breval@example.org : « Rappel : votre cours d'essai samedi"
        " à 18:30 »",
    ]  # fmt: skip
    changes = json.loads(salesflow(cli, demo, START, "plan", "--days", "21", "--against",
                                   "main", "--json").output)["changes"]  # fmt: skip
    moved = [(c["change"], c["step"], c["record"], c["before"]["at"], c["at"], c["fields"])
             for c in changes]  # fmt: skip
    assert moved == [
        ("changed", "rappel", "cours-essai #1 Julie Martin", "2026-12-04T18:30:00+01:00",
         "2026-12-03T18:30:00+01:00", ["at"]),
        ("changed", "rappel", "cours-essai #2 Inès Bréval", "2026-12-11T18:30:00+01:00",
         "2026-12-10T18:30:00+01:00", ["at"]),
    ]  # fmt: skip


def test_a_new_subject_shows_what_it_was_as_a_reviewer_reads_it(cli, demo):
    after_the_forms(cli, demo)
    in_git(demo)
    template = demo / "workflows" / "templates" / "rappel-essai.txt.j2"
    template.write_text(template.read_text().replace("Rappel :", "À demain :"))
    result = salesflow(cli, demo, START, "plan", "--against", "main", "--format", "markdown")
    assert result.output == (
        "**salesflow plan**: 1 différence avec main\n\n"
        "plan du 22 nov. 2026 10:00 au 6 déc. 2026 10:00 (Europe/Paris) : 5 moments parcourus"
        "\n\n_suppose qu’aucune nouvelle entrée n’arrive (aucun formulaire, aucun import,"
        " personne ne déplace d’affaire, personne ne répond, rien ne revient en erreur), que"
        " chaque e-mail est remis et que chaque requête reçoit une réponse 2xx_\n\n"
        "### essai-formulaire\n\n"
        "| changement | quand | quoi | fiche | détail |\n|---|---|---|---|---|\n"
        "| ~ changé | 4 déc. 2026 18:30 | e-mail | cours-essai #1 Julie Martin | e-mail n° 9 à"
        " julie.martin@example.org : « À demain : votre cours d'essai samedi à 18:30 » (subject"
        " était « Rappel : votre cours d'essai samedi à 18:30 ») |\n"
    )


def test_against_the_revision_checked_out_there_is_no_difference(cli, demo):
    after_the_forms(cli, demo)
    in_git(demo)
    result = salesflow(cli, demo, START, "plan", "--against", "main", "--exit-code")
    assert result.output.splitlines()[0] == "aucune différence avec main"
    assert json.loads(salesflow(cli, demo, START, "plan", "--against", "HEAD", "--json")
                      .output)["changes"] == []  # fmt: skip


def test_against_a_folder_compares_with_its_configuration(cli, demo, tmp_path):
    after_the_forms(cli, demo)
    before = tmp_path / "before"
    shutil.copytree(demo, before, ignore=shutil.ignore_patterns("salesflow.db*", "inbox"))
    remind_two_days_before(demo)
    changes = json.loads(salesflow(cli, demo, START, "plan", "--against", before,
                                   "--json").output)["changes"]  # fmt: skip
    assert [(c["record"], c["before"]["at"], c["at"]) for c in changes] == [
        ("cours-essai #1 Julie Martin", "2026-12-04T18:30:00+01:00", "2026-12-03T18:30:00+01:00")
    ]
    salesflow(cli, demo, START, "plan", "--against", before, "--exit-code", code=4)


def test_a_project_in_a_subfolder_of_the_repository_is_read_at_the_same_place(cli, demo):
    after_the_forms(cli, demo)
    repository = demo.parent
    (repository / ".gitignore").write_text("salesflow.db*\n.salesflow*\ninbox/\noutbox/\n")
    git(repository, "init", "-q")
    git(repository, "add", "demo")
    git(repository, "commit", "-qm", "the club's configuration")
    remind_two_days_before(demo)
    result = salesflow(cli, demo, START, "plan", "--against", "main", "--exit-code", code=4)
    assert result.output.splitlines()[0] == "1 différence avec main"


# -- planning changes nothing


def _files(project: Path) -> dict[str, tuple[bytes, int]]:
    """Every file of the project folder but the validated configuration's cache: its bytes
    and when it was last written."""
    return {
        path.relative_to(project).as_posix(): (path.read_bytes(), path.stat().st_mtime_ns)
        for path in sorted(project.rglob("*"))
        if path.is_file() and ".salesflow" not in path.relative_to(project).parts
    }


def _rows(project: Path) -> dict[str, list]:
    """Every row of every table, as the database holds them."""
    tables = query(project, "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
    return {name: sorted(map(repr, query(project, f'SELECT * FROM "{name}"')))
            for (name,) in tables}  # fmt: skip


def _with_waiting_input(cli, demo: Path) -> None:
    """A form dropped in the inbox but not taken in yet, a reply in the replies mailbox, the
    outbox holding what the ticks sent."""
    import mailbox

    import yaml

    config = yaml.safe_load((demo / "salesflow.yaml").read_text())
    config["email"]["inbound"] = {"maildir": "Maildir"}
    (demo / "salesflow.yaml").write_text(yaml.safe_dump(config, allow_unicode=True))
    after_the_forms(cli, demo)
    late = {"email": "zoe@example.org", "prenom": "Zoé", "date_essai": "2026-11-28T18:30"}
    (demo / "inbox" / "cours-essai" / "zoe.json").write_text(json.dumps(late))
    box = mailbox.Maildir(demo / "Maildir", create=True)
    box.add(b"From: julie.martin@example.org\nSubject: Re: Bienvenue\n\nMerci !\n")


def test_planning_never_writes_to_the_database_or_the_project_folders(cli, demo):
    _with_waiting_input(cli, demo)
    assert sorted((demo / "outbox").glob("*.eml")) and (demo / "salesflow.db").exists()
    before = _files(demo)
    planned(cli, demo, "--days", "14")
    salesflow(cli, demo, START, "plan", "--days", "30")
    in_git(demo)
    before = _files(demo)
    remind_two_days_before(demo)
    changed = {"workflows/essai-formulaire.yaml"}
    salesflow(cli, demo, START, "plan", "--against", "main", "--exit-code", code=4)
    after = _files(demo)
    assert {name: data for name, data in after.items() if name not in changed} == {
        name: data for name, data in before.items() if name not in changed
    }
    assert "inbox/cours-essai/zoe.json" in after
    assert [path.parent.name for path in (demo / "Maildir").rglob("*") if path.is_file()] == ["new"]


@pytest.mark.engines
def test_on_postgresql_the_plan_runs_on_a_scratch_copy_and_the_server_keeps_its_rows(
    cli, demo, backend, tmp_path
):
    after_the_forms(cli, demo)
    rows = _rows(demo) if backend == "postgresql" else None
    before = _files(demo)
    plan = planned(cli, demo, "--days", "14")
    assert plan["counts"] == {"email": 1, "notification": 2, "stalled": 1, "run started": 2,
                              "run ended": 3}  # fmt: skip
    assert _files(demo) == before
    main = shutil.copytree(demo, tmp_path / "main", ignore=shutil.ignore_patterns("salesflow.db*"))
    remind_two_days_before(demo)
    changes = planned(cli, demo, "--against", main)["changes"]
    assert [(c["change"], c["at"]) for c in changes] == [("changed", "2026-12-03T18:30:00+01:00")]
    if backend == "postgresql":
        assert _rows(demo) == rows
        assert not (demo / "salesflow.db").exists()


def test_a_database_in_use_is_planned_with_what_its_wal_holds_and_left_as_it_is(cli, demo):
    """As with `serve` running: a connection holds the file open, and its last transaction
    (Julie's run cancelled by hand) is still only in the -wal."""
    import sqlite3

    after_the_forms(cli, demo)
    database = demo / "salesflow.db"
    holder = sqlite3.connect(database, isolation_level=None)
    try:
        holder.execute("PRAGMA wal_autocheckpoint = 0")
        holder.execute("UPDATE runs SET status = 'cancelled', wake_at = NULL WHERE id = 1")
        assert (demo / "salesflow.db-wal").stat().st_size > 0
        before = _files(demo)
        plan = planned(cli, demo, "--days", "14")
        assert [e for e in plan["effects"] if e["kind"] == "email"] == []
        assert {k: v for k, v in _files(demo).items() if not k.endswith("-shm")} == {
            k: v for k, v in before.items() if not k.endswith("-shm")
        }  # the -shm is the readers' shared memory, not data
    finally:
        holder.close()


# -- what cannot be planned is one line


@pytest.mark.parametrize(
    ("options", "said"),
    [
        (("--until", "2026-11-01"),
         "error: --until '2026-11-01' is not after now (2026-11-22 10:00)"),
        (("--until", "2026-11-22T09:00"),
         "error: --until '2026-11-22T09:00' is not after now (2026-11-22 10:00)"),
        (("--until", "demain"),
         "error: --until 'demain': 'demain' is not a date-time (e.g. 2026-12-05T18:30)"),
    ],
)  # fmt: skip
def test_an_until_that_is_past_or_unreadable_is_one_line(cli, demo, options, said):
    after_the_forms(cli, demo)
    result = salesflow(cli, demo, START, "plan", *options, code=1)
    assert result.output.strip() == said


def test_until_a_date_plans_to_its_end(cli, demo):
    after_the_forms(cli, demo)
    plan = planned(cli, demo, "--until", "2026-12-04")
    assert plan["until"].startswith("2026-12-04T23:59:59")
    assert [e["step"] for e in plan["effects"] if e["kind"] == "email"] == ["rappel"]
    assert planned(cli, demo, "--until", "2026-12-04T18:00")["counts"].get("email") is None
    assert (
        planned(cli, demo, "--until", "2026-12-01T00:00Z")["until"] == "2026-12-01T01:00:00+01:00"
    )


@pytest.mark.parametrize(
    ("options", "said"),
    [
        (("--exit-code",), "--exit-code compares: give --against REF too"),
        (("--days", "3", "--until", "2026-12-01"), "give --days or --until, not both"),
        (("--days", "0"), "should be greater than or equal to 1"),
    ],
)
def test_options_that_do_not_go_together_are_usage_errors(cli, demo, options, said):
    result = salesflow(cli, demo, START, "plan", *options, code=2)
    assert said in " ".join(result.output.replace("│", "").split())


def test_no_database_yet_is_said(cli, demo):
    result = salesflow(cli, demo, START, "plan", code=1)
    assert result.output == (
        f"error: {demo / 'salesflow.db'}: no database yet, so nothing is waiting: nothing to plan\n"
    )
    assert not (demo / "salesflow.db").exists()


def test_a_lost_database_is_not_taken_for_a_new_project(cli, demo):
    after_the_forms(cli, demo)
    (demo / "salesflow.db").unlink()
    result = salesflow(cli, demo, START, "plan", code=1)
    assert "the database is missing, though this project had one" in result.output
    assert not (demo / "salesflow.db").exists()


def test_against_a_revision_outside_a_repository(cli, demo):
    after_the_forms(cli, demo)
    result = salesflow(cli, demo, START, "plan", "--against", "main", code=1)
    assert result.output == (
        f"error: --against 'main': {demo} is not in a Git repository and there is no folder"
        " main holding salesflow.yaml (name a branch, a tag, a commit, or a folder holding"
        " salesflow.yaml)\n"
    )


def test_against_a_revision_that_does_not_exist(cli, demo):
    after_the_forms(cli, demo)
    in_git(demo)
    result = salesflow(cli, demo, START, "plan", "--against", "origin/main", code=1)
    assert result.output == (
        f"error: --against 'origin/main': no such revision in {demo} (name a branch, a tag,"
        " a commit, or a folder holding salesflow.yaml)\n"
    )


def test_against_a_revision_from_before_the_project(cli, demo):
    after_the_forms(cli, demo)
    repository = demo.parent
    git(repository, "init", "-q")
    (repository / "README.md").write_text("Le club\n")
    git(repository, "add", "README.md")
    git(repository, "commit", "-qm", "the club's notes")
    (repository / ".gitignore").write_text("salesflow.db*\n.salesflow*\ninbox/\noutbox/\n")
    git(repository, "add", ".")
    git(repository, "commit", "-qm", "the club's configuration")
    result = salesflow(cli, demo, START, "plan", "--against", "HEAD~1", code=1)
    assert result.output == "error: HEAD~1 has no folder demo/ (where this project is)\n"
    git(demo, "rm", "-q", "--cached", "salesflow.yaml")
    git(demo, "commit", "-qm", "no salesflow.yaml")
    result = salesflow(cli, demo, START, "plan", "--against", "HEAD", code=1)
    assert result.output == "error: HEAD has no salesflow.yaml in demo/\n"


def test_an_invalid_configuration_at_the_revision_names_its_file_and_line(cli, demo):
    after_the_forms(cli, demo)
    workflow = demo / "workflows" / "essai-formulaire.yaml"
    good = workflow.read_text()
    workflow.write_text(good.replace("stage: essai-planifie", "stage: essai-plan"))
    in_git(demo)
    workflow.write_text(good)
    result = salesflow(cli, demo, START, "plan", "--against", "main", code=1)
    [(line, column)] = [
        (n, text.index("essai-planifie") + 1)
        for n, text in enumerate(good.splitlines(), 1)
        if "essai-planifie" in text
    ]
    assert result.output.splitlines() == [
        f"main:workflows/essai-formulaire.yaml:{line}:{column}: 'essai-plan' is not a stage of"
        " pipeline 'cours-essai' (did you mean 'essai-planifie'?) [steps[3].create_deal.stage]",
        "the configuration at main has 1 error(s)",
    ]


# -- honest about its limits


def test_a_request_is_marked_with_what_the_plan_assumes_and_keeps_its_secret(
    cli, demo, monkeypatch
):
    monkeypatch.setenv("CRM_TOKEN", "s3cr3t-t0ken")
    (demo / "workflows" / "relance-oubli.yaml").write_text(FOLLOW_UP)
    after_the_forms(cli, demo)
    [request] = [e for e in planned(cli, demo)["effects"] if e["kind"] == "request"]
    assert (request["at"], request["values"], request["assumes"]) == (
        "2026-11-30T09:00:00+01:00",
        {"method": "POST", "url": "https://crm.example/hooks/{{ env.CRM_TOKEN }}"},
        "assumes the receiver answers 2xx; what it answers is not known",
    )
    table = salesflow(cli, demo, START, "plan").output
    [line] = [line for line in table.splitlines() if "crm.example" in line]
    assert line.endswith(
        "requête n° 10 en file : POST https://crm.example/hooks/{{ env.CRM_TOKEN }} (suppose"
        " une réponse 2xx ; ce que le destinataire répond n’est pas connu)"
    )
    assert "s3cr3t" not in table


def test_a_template_that_fails_shows_as_the_failure_it_would_be(cli, demo, tmp_path):
    """Julie sings soprano, Inès alto: a template that knows only sopranos fails for Inès
    (StrictUndefined), at the moment her reminder is due — as ticking then does."""
    template = demo / "workflows" / "templates" / "rappel-essai.txt.j2"
    template.write_text(template.read_text().replace(
        "Bonjour {{ contact.first_name }}", "Bonjour {{ {'soprano': 'la soprano'}[contact.voix] }}"
    ))  # fmt: skip
    after_the_forms(cli, demo)
    plan = planned(cli, demo, "--days", "21")
    reminders = [(e["at"], e["kind"], e["record"], e["said"]) for e in plan["effects"]
                 if e["step"] == "rappel"]  # fmt: skip
    assert reminders == [
        ("2026-12-04T18:30:00+01:00", "email", "cours-essai #1 Julie Martin",
         "email #9 to julie.martin@example.org: “Rappel : votre cours d'essai samedi à 18:30”"),
        ("2026-12-11T18:30:00+01:00", "failure", "cours-essai #2 Inès Bréval",
         "template rappel-essai: 'dict object' has no attribute 'alto'"),
    ]  # fmt: skip
    [ended] = [
        e for e in plan["effects"] if e["kind"] == "run ended" and "Inès" in (e["record"] or "")
    ]
    assert ended["values"] == {"status": "failed"}
    ticked = shutil.copytree(demo, tmp_path / "ticked")
    salesflow(cli, ticked, "2026-12-11T18:30", "tick")
    assert query(ticked, "SELECT status, reason FROM runs WHERE id = 2") == [
        ("failed", '{"msg": "step_failed", "step": "rappel", "reason": {"msg": "template_failed",'
         ' "name": "rappel-essai", "error": "\'dict object\' has no attribute \'alto\'"}}'),
    ]  # fmt: skip


def test_a_template_that_raises_shows_as_a_failure(cli, demo):
    template = demo / "workflows" / "templates" / "revue-hebdo.txt.j2"
    text = template.read_text()
    template.write_text(text.replace("Bonjour à toute l'équipe,", "Bonjour {{ 1 // 0 }},"))
    after_the_forms(cli, demo)
    failures = [(e["at"], e["workflow"], e["said"]) for e in planned(cli, demo)["effects"]
                if e["kind"] == "failure"]  # fmt: skip
    assert failures == [
        ("2026-11-23T08:00:00+01:00", "revue-hebdo",
         "template revue-hebdo: integer division or modulo by zero"),
        ("2026-11-30T08:00:00+01:00", "revue-hebdo",
         "template revue-hebdo: integer division or modulo by zero"),
    ]  # fmt: skip


def test_an_update_that_changes_nothing_is_no_effect(cli, demo):
    (demo / "workflows" / "etape.yaml").write_text(
        "id: etape\ntrigger: {event: deal.stalled, match: {pipeline: cours-essai}}\nsteps:\n"
        "  - id: poser\n    update_deal: {next_step: Rappeler}\n"
        "  - id: reposer\n    update_deal: {next_step: Rappeler}\n"
    )
    after_the_forms(cli, demo)
    updates = [(e["step"], e["record"], e["values"]) for e in planned(cli, demo)["effects"]
               if e["kind"] == "update"]  # fmt: skip
    assert updates == [("poser", "cours-essai #3 Œdipe Lefèvre", {"changed": "next_step"})]


def test_a_database_of_a_newer_salesflow_is_named_not_its_scratch_copy(cli, demo):
    import sqlite3

    after_the_forms(cli, demo)
    with sqlite3.connect(demo / "salesflow.db") as connection:
        connection.execute("PRAGMA user_version = 99")
    result = salesflow(cli, demo, START, "plan", code=1)
    assert result.output.startswith(f"error: {demo / 'salesflow.db'}: the database has schema")


def test_emails_already_in_the_outbox_are_listed_at_their_next_attempt(cli, demo):
    """The forms were processed but nothing delivered yet (serve's worker between passes,
    a transport down): the next run sends those emails, so the plan lists them."""
    for form, folder in (("julie.json", "cours-essai"), ("tally-ines.json", "cours-essai-tally")):
        (demo / "inbox" / folder).mkdir(parents=True)
        shutil.copy(demo / "examples" / "forms" / form, demo / "inbox" / folder)
    salesflow(cli, demo, START, "ingest", "--inbox")
    salesflow(cli, demo, START, "process")
    waiting = [e for e in planned(cli, demo)["effects"] if "already in the outbox" in e["said"]]
    assert sorted(e["values"]["to"] for e in waiting) == [
        "ines.breval@example.org", "julie.martin@example.org", "marie@club.example",
        "paul@club.example",
    ]  # fmt: skip
    assert {e["at"] for e in waiting} == {"2026-11-22T10:00:00+01:00"}


def test_csv_for_a_spreadsheet_one_row_an_effect(cli, demo):
    after_the_forms(cli, demo)
    csv = salesflow(cli, demo, START, "plan", "--format", "csv").output
    header, *rows = csv.lstrip("\ufeff").splitlines()
    assert header == "at;kind;workflow;step;record;detail;assumes"
    assert any(row.startswith("2026-12-04T18:30:00+01:00;email;essai-formulaire;rappel;")
               for row in rows)  # fmt: skip
