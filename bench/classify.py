"""Benchmark: `classify` over the inbound corpus (tests/fixtures/inbound/), 10,000 messages a
run, in process, against its floor in the same run, alternating: the standard library's
parse of the same bytes (`BytesParser(policy=default)`), which classify does once. Prints
µs a message for both, and the ratio (target ≤ 3×: #30 allows the whole Maildir reader 3×
a floor that parses and writes the rows).

    .venv/bin/python bench/classify.py [--messages 10000] [--runs 5]
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from email.parser import BytesParser
from email.policy import default

from common import REPO, Row, paired, print_table, ratio_row

from salesflow.mail.inbound import Verp, classify

CORPUS = REPO / "tests" / "fixtures" / "inbound"
TARGET = 3.0


class Outbox:
    """The corpus's outbox (expected.json), answered from dicts: the store's cost is not
    classify's."""

    def __init__(self, message_ids: dict, latest_sent_to: dict, verp_tokens: dict):
        self.by_message_id = message_ids.get
        self.latest_sent_to = latest_sent_to.get
        self.by_verp_token = verp_tokens.get


def corpus(count: int) -> list[bytes]:
    """`count` messages, the corpus's round and round."""
    messages = [path.read_bytes() for path in sorted(CORPUS.glob("*.eml"))]
    return list(itertools.islice(itertools.cycle(messages), count))


def measure(count: int, runs: int) -> tuple[list[Row], float, float]:
    """The table's row, and the fastest µs a message of the floor and of classify."""
    expected = json.loads((CORPUS / "expected.json").read_text(encoding="utf-8"))
    known, verp = Outbox(**expected["outbox"]), Verp(expected["verp"])
    messages = corpus(count)
    parser = BytesParser(policy=default)
    best = []

    def floor() -> float:
        began = time.perf_counter()
        for raw in messages:
            parser.parsebytes(raw)
        return time.perf_counter() - began

    def classified() -> float:
        began = time.perf_counter()
        for raw in messages:
            classify(raw, known, verp=verp)
        best.append(time.perf_counter() - began)
        return best[-1]

    pair = paired(floor, classified, runs)
    row = ratio_row(f"classify {count:,} messages", "parse only", pair, TARGET)
    return [row], pair.floor / count * 1e6, min(best) / count * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    rows, floor_us, classify_us = measure(args.messages, args.runs)
    print_table(rows)
    print(f"µs a message (fastest run): parse {floor_us:.0f}, classify {classify_us:.0f}")
    return 0 if all(row.met for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
