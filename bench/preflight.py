"""Benchmark: preflight's duplicate detection over 1,000,000 records (issue 11; goal ≤ 10 s).

A run of ``--count`` records (with ``--dups`` in-set pairs claiming one handle, one of each pair in
a different letter case) is stored in SQLite; then :func:`pipeline.holdout.find_duplicates` is
timed, and its peak Python memory measured with tracemalloc in a second pass. It is measured twice:
with no earlier run in the database, and with ``--earlier-runs`` earlier runs of the same records
(``--earlier-size`` each: the re-runs and repair runs every set gets) plus ``--cross`` other
records of an earlier run claiming handles of this one. The goal is time flat in the number of
earlier runs. Printed as ratios against a baseline measured in the same process: a plain dict count
of the same keys (the least any in-memory check must do).

    .venv/bin/python bench/preflight.py [--count 1000000] [--earlier-runs 20] [--earlier-size 50000]
"""

from __future__ import annotations

import argparse
import gc
import sqlite3
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlmodel import Session  # noqa: E402

from handles.syntax import handle_key  # noqa: E402
from pipeline.holdout import find_duplicates  # noqa: E402
from store.db import make_engine, upgrade_schema  # noqa: E402

CURRENT = 1000  # the measured run's id: every earlier run has a smaller one
NOW = "2026-11-30 12:00:00"


def mms(i: int) -> str:
    return f"99{i:09d}04641"


def handle(i: int, dups: int, count: int) -> str:
    """Record i's handle: the odd member of each of ``dups`` pairs claims its partner's, upper-cased."""
    step = max(2, count // max(dups, 1))
    if dups and i % step == 1 and i // step < dups:
        return f"11084/B{i - 1}"
    return f"11084/b{i}"


def add_run(conn: sqlite3.Connection, run_id: int) -> None:
    conn.execute(
        "INSERT INTO run (id, set_id, profile_excluded, jobs_excluded, state, skip_copy, profile_mode, "
        "created_at, updated_at, heartbeat_at) VALUES (?, '7600000000004641', 0, 0, 'running', 0, 'api', "
        "?, ?, ?)",
        (run_id, NOW, NOW, NOW),
    )


def add_records(conn: sqlite3.Connection, run_id: int, rows: Iterator[tuple[str, str]]) -> None:
    conn.executemany(
        "INSERT INTO record (run_id, position, mms_id, expected_handle, handle_key, outcome, updated_at, "
        "suppressed) VALUES (?, 0, ?, ?, ?, 'unknown', ?, 0)",
        ((run_id, m, h, handle_key(h), NOW) for m, h in rows),
    )


def timed(job: Callable[[], Any]) -> tuple[float, Any]:
    gc.collect()
    started = time.perf_counter()
    result = job()
    return time.perf_counter() - started, result


def peak(job: Callable[[], Any]) -> int:
    gc.collect()
    tracemalloc.start()
    job()
    _, top = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return top


def measure(engine: Any, keys: list[str]) -> dict[str, float]:
    def detect() -> dict[str, Any]:
        with Session(engine) as session:
            return find_duplicates(session, CURRENT)

    def baseline() -> Counter[str]:
        return Counter(keys)

    seconds, found = timed(detect)
    base_seconds, counted = timed(baseline)
    base_dups = sum(n for n in counted.values() if n > 1)
    return {
        "seconds": seconds,
        "peak": peak(detect),
        "found": len(found),
        "base_seconds": base_seconds,
        "base_peak": peak(baseline),
        "base_found": base_dups,
    }


def report(label: str, m: dict[str, float]) -> None:
    print(
        f"{label:<34} {m['seconds']:6.2f} s ({m['seconds'] / m['base_seconds']:5.1f}× the dict count, "
        f"{m['base_seconds']:.2f} s)  peak {m['peak'] / 2**20:6.1f} MiB "
        f"({m['peak'] / m['base_peak']:.3f}× the dict's {m['base_peak'] / 2**20:.0f} MiB)  "
        f"flagged {m['found']:,}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--dups", type=int, default=1000, help="in-set pairs claiming one handle")
    parser.add_argument("--earlier-runs", type=int, default=20)
    parser.add_argument("--earlier-size", type=int, default=50_000)
    parser.add_argument(
        "--cross", type=int, default=500, help="other records of earlier runs sharing a handle"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        engine = make_engine(f"sqlite:///{path}")
        upgrade_schema(engine)
        conn = sqlite3.connect(path)
        started = time.perf_counter()
        add_run(conn, CURRENT)
        rows = [(mms(i), handle(i, args.dups, args.count)) for i in range(args.count)]
        add_records(conn, CURRENT, iter(rows))
        conn.commit()
        keys = [handle_key(h) for _, h in rows]
        print(
            f"{args.count:,} records of run {CURRENT} stored in {time.perf_counter() - started:.1f} s "
            f"({args.dups:,} in-set pairs claiming one handle)"
        )
        alone = measure(engine, keys)
        report("no earlier run", alone)

        started = time.perf_counter()
        for run in range(1, args.earlier_runs + 1):
            add_run(conn, run)
            add_records(conn, run, iter(rows[: args.earlier_size]))  # the same records, run again
        if args.earlier_runs:
            other = ((f"98{i:09d}04641", rows[i * 7][1]) for i in range(args.cross))  # other records
            add_records(conn, 1, other)
        conn.commit()
        conn.close()
        stored = args.earlier_runs * args.earlier_size + (args.cross if args.earlier_runs else 0)
        print(
            f"{args.earlier_runs} earlier runs: {stored:,} more records stored in "
            f"{time.perf_counter() - started:.1f} s ({args.cross} of them other records sharing a handle)"
        )
        with_runs = measure(engine, keys)
        report(f"{args.earlier_runs} earlier runs", with_runs)
        engine.dispose()

    flat = with_runs["seconds"] / alone["seconds"]
    goal = "met" if max(alone["seconds"], with_runs["seconds"]) <= 10 else "NOT met"
    print(
        f"time with {args.earlier_runs} earlier runs ÷ with none: {flat:.2f} (flat ≈ 1); goal ≤ 10 s: {goal}"
    )
    expected = 2 * args.dups
    assert alone["found"] == expected, (alone["found"], expected)
    assert with_runs["found"] >= expected + (args.cross if args.earlier_runs else 0) - args.dups


if __name__ == "__main__":
    main()
