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
from dataclasses import replace
from pathlib import Path

from salesflow.config.model import Project
from salesflow.errors import ProjectInvalid, UserError

PROJECT_PARTS = ("salesflow.yaml", "pipelines", "workflows")  # what a configuration is
_NAME_ONE = "name a branch, a tag, a commit, or a folder holding salesflow.yaml"


class RevisionInvalid(ProjectInvalid):
    """The configuration at a revision has problems: each named `REV:path:line:col`."""

    def __init__(self, revision: str, problems: list):
        super().__init__(problems)
        self.args = (f"the configuration at {revision} has {len(problems)} error(s)",)


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
        target = Path(scratch).resolve()
        _extract(root, against, target)
        try:
            project = load_project(target, database)
        except ProjectInvalid as error:
            raise RevisionInvalid(
                against, [_at(against, p, target) for p in error.problems]
            ) from None
        except UserError as error:
            raise UserError(f"the configuration at {against}: {error}") from None
        yield project


def _at(revision: str, problem, folder: Path):
    """The problem named as Git names the file: `main:workflows/essai.yaml` (a path that
    stays relative wherever the command runs)."""
    try:
        inside = problem.path.resolve().relative_to(folder).as_posix()
    except ValueError:
        return problem
    return replace(problem, path=Path(f"{revision}:{inside}"))


def _extract(root: Path, revision: str, target: Path) -> None:
    """The project folder's configuration files at `revision`, written under `target`."""
    top, prefix = _where(root, revision)
    if _git(top, "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}") is None:
        raise UserError(f"--against {revision!r}: no such revision in {top} ({_NAME_ONE})")
    if prefix and _git(top, "cat-file", "-e", f"{revision}:{prefix}") is None:
        raise UserError(f"{revision} has no folder {prefix} (where this project is)")
    archive = _git(top, "archive", "--format=tar", f"{revision}:{prefix}")
    if archive is None:
        raise UserError(f"git archive could not read {revision}:{prefix}")
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        members = [m for m in tar.getmembers() if m.name.split("/")[0] in PROJECT_PARTS]
        if not any(member.name == "salesflow.yaml" for member in members):
            raise UserError(f"{revision} has no salesflow.yaml in {prefix or 'the top folder'}")
        tar.extractall(target, members=members, filter="data")


def _where(root: Path, revision: str) -> tuple[Path, str]:
    """The repository's top folder and the project's folder in it (`club/`, or empty)."""
    said = _git(root, "rev-parse", "--show-toplevel", "--show-prefix")
    if said is None:
        raise UserError(
            f"--against {revision!r}: {root} is not in a Git repository and there is no"
            f" folder {revision} holding salesflow.yaml ({_NAME_ONE})"
        )
    top, *prefix = said.decode().splitlines()
    return Path(top), "".join(prefix).strip()


def _git(folder: Path, *args: str) -> bytes | None:
    """What git prints, or None when it fails (the callers say why in the user's terms)."""
    try:
        done = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, check=False)
    except FileNotFoundError:
        raise UserError("--against a revision needs git, which is not installed") from None
    return None if done.returncode else done.stdout
