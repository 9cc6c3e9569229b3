"""Benchmark: reading a generated Events Report (CSV, XLSX) streaming vs. reading it whole first.

Each measurement runs in its own subprocess: one timed pass (lines/s), then one pass under
tracemalloc (peak Python memory). Streaming = ``outcomes.importer.read_events`` + ``parse_event``
+ ``fingerprint`` per line; baseline = the whole file read into memory first, then the same parse.
Goal: ≥ 200,000 lines/s for CSV, and streaming peak memory flat from 20,000 to 200,000 lines.

    .venv/bin/python bench/events.py [--sizes 20000,200000] [--formats csv,xlsx]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

HEADER = ["Event Description", "Event Date", "Severity", "Module", "Creator"]


def _line(i: int) -> list[str]:
    mms = f"9910{i:010d}04641"
    if i % 10 == 0:
        text = f"Record {mms} was skipped. Reason: BIB record MMS ID {mms} does not have a handle identifier"
    else:
        text = (f"Record {mms} was skipped. Reason: BIB record MMS ID {mms} already has a handle "
                f"identifier 11084/{1742400000 + i}")
    return [text, "05/08/2025 15:58:23 CDT", "Information", "Repository", "System"]


def generate(path: Path, fmt: str, lines: int) -> None:
    if fmt == "csv":
        with path.open("w", encoding="utf-8-sig", newline="") as out:
            writer = csv.writer(out, lineterminator="\r\n")
            writer.writerow(HEADER)
            for i in range(lines):
                writer.writerow(_line(i))
        return
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    sheet = wb.create_sheet()
    sheet.append(HEADER)
    for i in range(lines):
        sheet.append(_line(i))
    wb.save(path)


def _streaming(path: Path) -> int:
    from outcomes.events import fingerprint, parse_event
    from outcomes.importer import read_events

    count = 0
    for row in read_events(path)[1]:
        fingerprint(parse_event(row.description).text)
        count += 1
    return count


def _whole(path: Path) -> int:
    from outcomes.events import fingerprint, parse_event

    if path.suffix == ".csv":
        rows = list(csv.reader(io.StringIO(path.read_bytes().decode("utf-8-sig"))))[1:]
    else:
        from openpyxl import load_workbook

        wb = load_workbook(path)  # not read_only: the whole workbook in memory
        rows = [list(r) for r in wb.worksheets[0].iter_rows(values_only=True)][1:]
    for row in rows:
        fingerprint(parse_event(str(row[0])).text)
    return len(rows)


def worker(method: str, path: Path) -> dict[str, float]:
    func = _streaming if method == "streaming" else _whole
    start = time.perf_counter()
    lines = func(path)
    seconds = time.perf_counter() - start
    tracemalloc.start()
    func(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"lines": lines, "seconds": seconds, "peak_mb": peak / 1e6}


def measure(method: str, path: Path) -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, "--worker", method, str(path)], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="20000,200000")
    parser.add_argument("--formats", default="csv,xlsx")
    parser.add_argument("--worker", nargs=2, metavar=("METHOD", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker[0], Path(args.worker[1]))))
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"{'format':6} {'lines':>8} {'method':10} {'lines/s':>10} {'peak MB':>8} {'speed×':>7} {'memory×':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in args.formats.split(","):
            for size in sizes:
                path = Path(tmp) / f"events-{size}.{fmt}"
                generate(path, fmt, size)
                base = measure("whole", path)
                stream = measure("streaming", path)
                for name, m in (("baseline", base), ("streaming", stream)):
                    rate = m["lines"] / m["seconds"]
                    speed = rate / (base["lines"] / base["seconds"])
                    memory = m["peak_mb"] / base["peak_mb"]
                    print(f"{fmt:6} {int(m['lines']):>8} {name:10} {rate:>10,.0f} {m['peak_mb']:>8.1f} "
                          f"{speed:>7.2f} {memory:>8.3f}")
                path.unlink()


if __name__ == "__main__":
    main()
