"""The project's configuration as another Git revision has it (`salesflow plan --against
main`), or as another folder does: read into a temporary folder with `git archive`, never by
checking out over the user's files."""

from __future__ import annotations

import contextlib
import io
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

from salesflow.config.model import Project
from salesflow.errors import UserError

PROJECT_PARTS = ("salesflow.yaml", "pipelines", "workflows")  # what a configuration is


@contextlib.contextmanager
def project_elsewhere(root: Path, against: str, database: str) -> Iterator[Project]:
    """The project's configuration at `against` — a folder holding salesflow.yaml, else a
    Git revision of the repository `root` is in — on the same `database`."""
    from salesflow.config.project import load_project

    folder = Path(against)
    if (folder / "salesflow.yaml").is_file():
        yield load_project(folder.resolve(), database)
        return
    with tempfile.TemporaryDirectory(prefix="salesflow-against-") as scratch:
        _extract(root, against, Path(scratch))
        try:
            yield load_project(Path(scratch), database)
        except UserError as error:
            raise UserError(f"the configuration at {against}: {error}") from None


def _extract(root: Path, revision: str, target: Path) -> None:
    """The project folder's configuration files at `revision`, written under `target`."""
    prefix = _git(root, "rev-parse", "--show-prefix").decode().strip()
    archive = _git(root, "archive", "--format=tar", f"{revision}:{prefix}")
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        members = [m for m in tar.getmembers() if m.name.split("/")[0] in PROJECT_PARTS]
        if not any(member.name == "salesflow.yaml" for member in members):
            raise UserError(f"{revision} has no salesflow.yaml in {prefix or 'the top folder'}")
        tar.extractall(target, members=members, filter="data")


def _git(root: Path, *args: str) -> bytes:
    try:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, check=False)
    except FileNotFoundError:
        raise UserError("--against a revision needs git, which is not installed") from None
    if done.returncode:
        said = done.stderr.decode(errors="replace").strip().splitlines()
        reason = said[-1] if said else f"git {args[0]} failed"
        raise UserError(
            f"cannot read {args[-1]!r} with git: {reason.removeprefix('fatal: ')}"
            " (name a branch, a tag, a commit, or a folder holding salesflow.yaml)"
        )
    return done.stdout
