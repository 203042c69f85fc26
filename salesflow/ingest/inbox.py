"""The inbox folder: drop form JSON and CSV files in it, `salesflow run` takes them in.

`inbox/<name>.json|.jsonl|.csv`, or `inbox/<sub>/…` where <sub> names the form (JSON) or the
import mapping (CSV). Each file is claimed by an atomic rename into `inbox/.processing/`, its
content goes in with a row in `inbox_files` in one transaction, then it moves to
`inbox/done/`; a file that is unusable as a whole moves to `inbox/failed/` with
`<name>.error.txt` beside it. After a crash, a file left in `.processing/` is moved on if its
transaction committed (its hash is in `inbox_files`) and processed again if not.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from salesflow.errors import UserError
from salesflow.ingest.forms import ingest_stream
from salesflow.ingest.importer import ImportOptions, import_csv, options_for, rejected_path
from salesflow.ingest.jsonread import open_submissions
from salesflow.store import inbox as inbox_files
from salesflow.store.db import describe, fault_advice
from salesflow.store.session import Store

SUFFIXES = (".json", ".jsonl", ".csv")
RESERVED = ("done", "failed", ".processing")


@dataclass
class InboxResult:
    done: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    accepted: int = 0
    rejected: int = 0

    def as_json(self) -> dict:
        return {
            "done": self.done,
            "failed": [{"file": name, "error": error} for name, error in self.failed],
            "accepted": self.accepted,
            "rejected": self.rejected,
        }


def pending_files(inbox: Path) -> list[Path]:
    """Files waiting in the inbox (top level and one level of subfolders), oldest first.
    A file another run claims while this one looks is simply not listed."""
    found = [p for p in inbox.glob("*") if p.suffix in SUFFIXES]
    for sub in inbox.iterdir() if inbox.is_dir() else []:
        if sub.is_dir() and sub.name not in RESERVED:
            found += [p for p in sub.glob("*") if p.suffix in SUFFIXES]
    dated = []
    for path in found:
        try:
            status = path.stat()
        except FileNotFoundError:
            continue
        if stat.S_ISREG(status.st_mode):
            dated.append((status.st_mtime_ns, path.name, path))
    return [path for _, _, path in sorted(dated)]


def drain(store: Store, inbox: Path, options_for_mapping) -> InboxResult:
    """Take in every file of the inbox; `options_for_mapping(name)` gives import options."""
    result = InboxResult()
    mine = inbox / ".processing" / str(os.getpid())
    for path in [*_orphans(inbox), *pending_files(inbox)]:
        relative = _relative(inbox, path)
        claimed = mine / relative
        claimed.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(path, claimed)  # atomic: another run that got there first wins
        except FileNotFoundError:
            continue
        _finish(store, inbox, claimed, relative, options_for_mapping, result)
    for folder in [mine, *_dead_claims(inbox)]:
        _remove_empty(folder)
    return result


def _remove_empty(folder: Path) -> None:
    """This run's claim folder, once everything in it has moved on."""
    for sub in sorted(folder.rglob("*"), reverse=True) if folder.is_dir() else []:
        with contextlib.suppress(OSError):
            sub.rmdir()
    with contextlib.suppress(OSError):
        folder.rmdir()


def _dead_claims(inbox: Path) -> list[Path]:
    """Claim folders of runs that died (their process is gone)."""
    processing = inbox / ".processing"
    folders = processing.iterdir() if processing.is_dir() else []
    return [f for f in folders if f.name.isdigit() and not _alive(int(f.name))]


def _orphans(inbox: Path) -> list[Path]:
    """Files claimed by a run that died: to finish now."""
    found = []
    for folder in _dead_claims(inbox):
        found += sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in SUFFIXES)
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _relative(inbox: Path, path: Path) -> Path:
    relative = path.relative_to(inbox)
    if relative.parts[0] == ".processing":  # .processing/<pid>/<sub>/<name>
        return Path(*relative.parts[2:])
    return relative


def _finish(store, inbox: Path, claimed: Path, relative: Path, options_for_mapping, result):
    """Take one claimed file in; whatever it raises moves it alone to failed/ (faults of the
    environment stop the pass, and the file is finished by the next run)."""
    digest = hashlib.sha256(claimed.read_bytes()).hexdigest()
    if not inbox_files.seen(store, digest):
        try:
            accepted, rejected, rejects = _take_in(
                store, claimed, relative, digest, options_for_mapping
            )
        except Exception as error:
            if fault_advice(error):
                raise
            _move(claimed, inbox / "failed" / relative)
            (inbox / "failed" / relative).with_name(f"{relative.name}.error.txt").write_text(
                f"{describe(error)}\n", encoding="utf-8"
            )
            result.failed.append((str(relative), describe(error)))
            return
        result.accepted += accepted
        result.rejected += rejected
        if rejects and rejects.exists():
            _move(rejects, inbox / "done" / relative.parent / rejects.name)
    _move(claimed, inbox / "done" / relative)
    result.done.append(str(relative))


def _take_in(store: Store, path: Path, relative: Path, digest: str, options_for_mapping):
    """(accepted, rejected, rejects file) for one claimed file, recorded in its transaction."""

    def record() -> None:
        inbox_files.record_done(store, digest, str(relative))

    sub = relative.parent.name or None
    if path.suffix == ".csv":
        options: ImportOptions = options_for_mapping(sub)
        imported = import_csv(store, path, options, also=record)
        return imported.created + imported.updated, imported.rejected, rejected_path(path)
    form = sub if sub in store.project.forms else None
    rejects = path.with_name(f"{path.stem}.rejected.jsonl")
    with open_submissions(path) as stream:
        taken = ingest_stream(store, stream, path.name, form, rejects, also=record)
    return taken.accepted, taken.rejected, taken.rejected_file


def _move(source: Path, target: Path) -> None:
    """Move, never overwriting: a name already taken in done/ gets a numbered suffix."""
    target.parent.mkdir(parents=True, exist_ok=True)
    candidate, number = target, 1
    while candidate.exists():
        candidate = target.with_name(f"{target.stem}.{number}{target.suffix}")
        number += 1
    os.replace(source, candidate)


def drain_project_inbox(store: Store) -> InboxResult:
    """Take in the project's inbox (`salesflow ingest --inbox`, `run` and `serve`'s worker)."""
    project = store.project
    if project.inbox is None:
        raise UserError("salesflow.yaml names no inbox folder (add `inbox: inbox`)")
    project.inbox.mkdir(parents=True, exist_ok=True)

    def mapping(sub: str | None) -> ImportOptions:
        return options_for(project, sub if sub in project.imports else None)

    return drain(store, project.inbox, mapping)
