"""Benchmark: reading 10,000 messages from a Maildir with salesflow/mail/mailbox.py — each
read, then marked done (moved to cur/ with the S flag) — against a floor that reads the same
files with the standard library's `mailbox.Maildir` (get_bytes of every key), alternating, in
this process. Target: ≤ 2× by the median (the rename that marks a message is the difference).

    .venv/bin/python bench/maildir.py [--messages 10000] [--runs 5]
"""

from __future__ import annotations

import argparse
import mailbox
import os
import sys
import tempfile
import time
from pathlib import Path

from common import Row, paired, print_table, ratio_row

from salesflow.mail.mailbox import MailboxState, MaildirSettings, open_mailbox


def fill(folder: Path, count: int) -> Path:
    """A Maildir of `count` replies of a few KB, as a mail server delivers them."""
    box = mailbox.Maildir(folder, create=True)
    quoted = "> Bonjour Julie, le cours d'essai vous a plu ?\n" * 40
    for n in range(count):
        box.add(
            f"From: prospect.{n}@example.org\nTo: club@club.example\nSubject: Re: Envie de "
            f"continuer ? ({n})\nMessage-ID: <reply-{n}@example.org>\nIn-Reply-To: "
            f"<invite-{n}@club.example>\n\nOui, je m'inscris demain.\n\n{quoted}"
        )
    return folder


def unmark(folder: Path) -> None:
    """Every message back into new/, unread (outside the time)."""
    for name in os.listdir(folder / "cur"):
        os.rename(folder / "cur" / name, folder / "new" / name.partition(":")[0])


def floor(folder: Path) -> float:
    began = time.perf_counter()
    box = mailbox.Maildir(folder, create=False)
    total = sum(len(box.get_bytes(key)) for key in box.iterkeys())
    assert total
    return time.perf_counter() - began


def measured(folder: Path, count: int) -> float:
    unmark(folder)
    began = time.perf_counter()
    with open_mailbox(MaildirSettings(folder)) as box:
        read = 0
        for fetched in box.new_messages(MailboxState()):
            box.done(fetched)
            read += 1
    elapsed = time.perf_counter() - began
    assert read == count, read
    return elapsed


def measure(scratch: Path, count: int, runs: int) -> list[Row]:
    folder = fill(scratch / "Maildir", count)
    pair = paired(lambda: floor(folder), lambda: measured(folder, count), runs)
    return [ratio_row(f"Maildir: read and mark {count:,}", "mailbox.Maildir reads", pair, 2)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        rows = measure(Path(scratch), args.messages, args.runs)
    print_table(rows)
    return 0 if all(row.met for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
