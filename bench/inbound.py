"""Benchmark: salesflow's `poll` reading 10,000 messages from a Maildir — each classified,
matched to the outbox, recorded with its event and effects, then marked read — against a
floor that does the same work with the standard library and `executemany`, paired, in this
process. Target (#30): ≤ 3× by the median.

The messages are the inbound corpus's shapes (tests/fixtures/inbound/: replies, automatic
answers, bounces, complaints, the unmatched and the unreadable), round and round; each round
is a "world" of its own: its Message-IDs, return-path tokens and addresses are rewritten, and
the database holds that world's contacts and the sent emails its messages answer (by
In-Reply-To, References, VERP or sender, as in the corpus).

The floor starts from the same database and the same Maildir, opened with the same settings
(salesflow's connection: WAL, its pragmas), and does what a poll must at the least: list new/,
read each file, parse it (`BytesParser`, with salesflow's own policy, `default`; or with
`--floor-parse compat32`, the legacy one, which leaves headers unparsed until asked and costs
a tenth on this corpus), write the same rows — the inbound
rows, their events, the contacts' new statuses, the mailbox's state — with `executemany` in
one transaction, then move each file to cur/. The rows it writes are the ones a first real
poll wrote (kept before the clock starts): what salesflow adds over the floor is deciding
them — classifying, matching, acting — and its per-message savepoints. Before a ratio is
printed, each table's rows after the floor must match the rows after the real poll.

    .venv/bin/python bench/inbound.py [--messages 10000] [--runs 5] [--floor-parse compat32]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections import Counter
from email import policy
from email.parser import BytesParser
from pathlib import Path

from common import Row, demo_project, paired, print_table, ratio_row
from maildir import unmark

from salesflow import clock
from salesflow.config.cache import load_project
from salesflow.mail.poll import poll
from salesflow.store import contacts, outbox
from salesflow.store.db import transaction
from salesflow.store.session import Store

CORPUS = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "inbound"
TARGET = 3.0
NOW = "2026-12-15T10:00"
# Whom the corpus's outbox (expected.json) wrote to, by its ids: one contact each a world.
SENT_TO = {
    101: "julie.martin@gmail.com", 102: "paul.durand@outlook.fr", 103: "jean.petit@example.org",
    104: "sophie.bernard@agence.example", 105: "claire.roux@yahoo.fr",
    106: "marc.leroy@orange.fr", 107: "anne.dubois@ancien.example",
    108: "marc.leroy.typo@gmail.com", 109: "thomas.moreau.old@hotmail.fr",
    110: "luc.garnier@example.net", 111: "lea.fontaine@lent.example",
    112: "thomas.moreau@hotmail.fr", 113: "fbl.redacted@hotmail.example",
}  # fmt: skip
_OWN_ID = re.compile(rb"^(message-id:[ \t]*<)", re.IGNORECASE | re.MULTILINE)


class World:
    """One round of the corpus: what each of its names becomes in world `n`."""

    def __init__(self, n: int, corpus_ids: dict[str, int], tokens: list[str]):
        self.n = n
        self.renames = [(old.encode(), self.message_id(sent).encode())
                        for old, sent in corpus_ids.items()]  # fmt: skip
        self.renames += [(f"bounces+{token}@".encode(), f"bounces+{token}w{n}@".encode())
                         for token in tokens]  # fmt: skip
        self.renames += [(address.encode(), self.address(address).encode())
                         for address in SENT_TO.values()]  # fmt: skip

    def message_id(self, sent: int) -> str:
        """The Message-ID of the corpus's email `sent` in this world (its VERP token is the
        part before @, as salesflow's are)."""
        return f"<{sent}w{self.n}@club.example>"

    def address(self, address: str) -> str:
        local, _, domain = address.partition("@")
        return f"{local}.w{self.n}@{domain}"

    def rewrite(self, raw: bytes) -> bytes:
        """The message as it reads in this world, with a Message-ID of its own."""
        head, gap, body = raw.partition(b"\n\n")
        head = _OWN_ID.sub(rb"\1w%d." % self.n, head, count=1)
        raw = head + gap + body
        for old, new in self.renames:
            raw = raw.replace(old, new)
        return raw


def prepare(scratch: Path, count: int) -> tuple[Path, Path, Path]:
    """(the project, its database as prepared, the Maildir of `count` new messages)."""
    expected = json.loads((CORPUS / "expected.json").read_text(encoding="utf-8"))
    messages = [path.read_bytes() for path in sorted(CORPUS.glob("*.eml"))]
    worlds = [World(n, expected["outbox"]["message_ids"], list(expected["outbox"]["verp_tokens"]))
              for n in range(-(-count // len(messages)))]  # fmt: skip
    project = demo_project(scratch / "project")
    settings = (project / "salesflow.yaml").read_text(encoding="utf-8")
    for line in ("# inbound: {maildir: replies}", '# return_path: "bounces+{token}@'):
        assert line in settings, f"salesflow.yaml has no {line!r} to turn on"
        settings = settings.replace(line, line[2:])
    (project / "salesflow.yaml").write_text(settings, encoding="utf-8")
    maildir = project / "replies"
    for folder in ("new", "cur", "tmp"):
        (maildir / folder).mkdir(parents=True)
    for n in range(count):
        world = worlds[n // len(messages)]
        name = f"{1796000000 + n}.M{n}P1.bench"
        (maildir / "new" / name).write_bytes(world.rewrite(messages[n % len(messages)]))
    loaded = load_project(project)
    store = Store.open(loaded, clock.now(NOW, loaded.timezone))
    sender = loaded.email.sender or ""
    with transaction(store.conn):
        for world in worlds:
            for sent, address in SENT_TO.items():
                address = world.address(address)
                contacts.upsert(store, address, {"first_name": "Prospect"})
                outbox.add_email(store, None, None, world.message_id(sent), sender, None,
                                 (None, address), ("Envie de continuer ?", "Bonjour !\n", None),
                                 {}, [])  # fmt: skip
        # as delivery leaves them: a message answers an email that left (by sender, only those)
        store.conn.execute("UPDATE outbox SET status = 'sent', sent_at = created_at")
    store.conn.close()
    prepared = scratch / "prepared.db"
    shutil.copy(loaded.database, prepared)
    return project, prepared, maildir


class Bench:
    """The real poll and its floor, each from a fresh copy of the prepared database and
    with every message back in new/."""

    def __init__(self, project: Path, prepared: Path, maildir: Path, count: int, parse: str):
        self.project, self.prepared, self.maildir, self.count = project, prepared, maildir, count
        self.parser = BytesParser(policy=getattr(policy, parse))
        self.loaded = load_project(project)
        self.rows: Written | None = None  # what the first real poll wrote: the floor's rows
        self.census: dict | None = None  # the tables after a real poll

    def _fresh(self) -> Store:
        for suffix in ("-wal", "-shm"):
            Path(f"{self.loaded.database}{suffix}").unlink(missing_ok=True)
        shutil.copy(self.prepared, self.loaded.database)
        unmark(self.maildir)
        return Store.open(self.loaded, clock.now(NOW, self.loaded.timezone))

    def real(self) -> float:
        store = self._fresh()
        began = time.perf_counter()
        result = poll(store)
        elapsed = time.perf_counter() - began
        assert result.error is None and result.read == self.count, result.summary()
        if self.rows is None:
            self.rows = Written.by(store, self.prepared)
            self.census = census(store)
        self._check(store, "this poll's")
        return elapsed

    def floor(self) -> float:
        if self.rows is None:
            self.real()  # the floor's rows are the real poll's: take them first
        rows = self.rows
        store = self._fresh()
        parse = self.parser.parsebytes
        new, cur = self.maildir / "new", self.maildir / "cur"
        began = time.perf_counter()
        names = os.listdir(new)
        read = []
        for name in names:
            with open(new / name, "rb") as file:
                raw = file.read()
            parse(raw)
            read.append((name, raw))
        with transaction(store.conn):
            store.conn.executemany(rows.inbound_sql, [rows.inbound_row(name, raw)
                                                      for name, raw in read])  # fmt: skip
            store.conn.executemany(rows.events_sql, rows.events)
            store.conn.executemany(
                "UPDATE contacts SET email_status = ?, unsubscribed_at = ?, updated_at = ?"
                " WHERE id = ?",
                rows.contacts,
            )
            store.conn.executemany(rows.reads_sql, rows.reads)
        for name, _ in read:
            os.rename(new / name, cur / f"{name}:2,S")
        elapsed = time.perf_counter() - began
        self._check(store, "the floor's")
        return elapsed

    def _check(self, store: Store, whose: str) -> None:
        """The tables as the first real poll left them, or no ratio at all."""
        found = census(store)
        store.conn.close()
        if found != self.census:
            differ = {key: (found.get(key), self.census.get(key))
                      for key in found.keys() | self.census.keys()
                      if found.get(key) != self.census.get(key)}  # fmt: skip
            raise AssertionError(f"{whose} rows differ from the first poll's: {differ}")


class Written:
    """What a real poll added to the prepared database, as rows to insert again."""

    def __init__(self, inbound: list, columns: list[str], events: tuple, contacts: list,
                 reads: tuple):  # fmt: skip
        self.by_identity = {row[columns.index("identity")]: row for row in inbound}
        self.raw_at = columns.index("raw")
        self.inbound_sql = _insert("inbound", columns)
        self.events_sql, self.events = events
        self.contacts = contacts
        self.reads_sql, self.reads = reads

    @classmethod
    def by(cls, store: Store, prepared: Path) -> Written:
        conn = store.conn
        conn.execute("ATTACH DATABASE ? AS prepared", (str(prepared),))
        inbound, columns = _rows(conn, "SELECT * FROM inbound ORDER BY id")
        events = _rows(conn, "SELECT * FROM events WHERE id > (SELECT max(id) FROM"
                             " prepared.events) ORDER BY id")  # fmt: skip
        changed = conn.execute(
            "SELECT c.email_status, c.unsubscribed_at, c.updated_at, c.id FROM contacts c"
            " JOIN prepared.contacts p ON p.id = c.id WHERE c.email_status IS NOT p.email_status"
            " OR c.unsubscribed_at IS NOT p.unsubscribed_at"
        ).fetchall()
        reads = _rows(conn, "SELECT * FROM mailbox_reads")
        conn.execute("DETACH DATABASE prepared")
        return cls(inbound, columns, (_insert("events", events[1]), events[0]),
                   [tuple(row) for row in changed],
                   (_insert("mailbox_reads", reads[1]), reads[0]))  # fmt: skip

    def inbound_row(self, name: str, raw: bytes) -> tuple:
        """The row the poll wrote for this file, with the bytes the floor read."""
        row = list(self.by_identity[name.partition(":")[0]])
        row[self.raw_at] = raw
        return tuple(row)


def _rows(conn, sql: str) -> tuple[list[tuple], list[str]]:
    """The rows of `sql` without their id, and their column names."""
    cursor = conn.execute(sql)
    names = [column[0] for column in cursor.description]
    keep = [i for i, name in enumerate(names) if name != "id"]
    return [tuple(row[i] for i in keep) for row in cursor], [names[i] for i in keep]


def _insert(table: str, columns: list[str]) -> str:
    return (f"INSERT INTO {table} ({', '.join(columns)})"
            f" VALUES ({', '.join('?' * len(columns))})")  # fmt: skip


def census(store: Store) -> dict:
    """Each table's row count, and what the messages made: kinds, event types, statuses."""
    conn = store.conn
    listed = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    tables = [row[0] for row in conn.execute(listed)]
    found = {table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
             for table in tables}  # fmt: skip
    for what, sql in (
        ("inbound kinds", "SELECT kind, count(*) FROM inbound GROUP BY kind"),
        ("event types", "SELECT type, count(*) FROM events GROUP BY type"),
        ("contact statuses", "SELECT email_status || ' ' || (unsubscribed_at IS NULL), count(*)"
                             " FROM contacts GROUP BY 1"),
    ):  # fmt: skip
        found[what] = Counter(dict(conn.execute(sql).fetchall()))
    return found


def measure(
    scratch: Path, count: int, runs: int, parse: str = "default"
) -> tuple[list[Row], Counter]:
    """The table's row, and what the messages were (kind: how many). `parse`: the floor's
    email policy — `default`, salesflow's own, or the legacy `compat32`, which skips most
    header parsing."""
    bench = Bench(*prepare(scratch, count), count, parse)
    pair = paired(bench.floor, bench.real, runs)
    floor = f"{'' if parse == 'default' else parse + ' '}parse + executemany"
    row = ratio_row(f"inbound: poll {count:,} Maildir messages", floor, pair, TARGET)
    return [row], bench.census["inbound kinds"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--floor-parse", choices=("default", "compat32"), default="default",
                        help="the floor's email policy (default: salesflow's own)")  # fmt: skip
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        rows, kinds = measure(Path(scratch), args.messages, args.runs, args.floor_parse)
    print_table(rows)
    print(
        "read:", ", ".join(f"{n:,} {kind.replace('_', ' ')}" for kind, n in sorted(kinds.items()))
    )
    return 0 if all(row.met for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
