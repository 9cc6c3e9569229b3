"""Benchmark: verify 12,102 handles (a real institution's check) against the sandbox resolver.

The sandbox answers each lookup after ``--latency-ms`` (100 ms) and runs in its own process, so
its CPU and memory are not counted. The list is read lazily and the history written to SQLite in
batches, as in production. Printed: handles/s, the ratio to the ideal (concurrency ÷ latency),
CPU seconds, peak memory, and RSS part-way and at the end (memory must not grow with the list).
The concurrency-1 baseline checks a smaller sample and extrapolates (said in the output).

    .venv/bin/python bench/verify.py [--count 12102] [--baseline-count 300] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from config.settings import load_settings  # noqa: E402
from handles.verdict import VerifyItem  # noqa: E402
from handles.verify import record_checks, run_verification  # noqa: E402
from store.db import make_engine, session_scope, upgrade_schema  # noqa: E402

VIEW = "01GCL_INST:GCL"
SANDBOX = (
    "import sys\n"
    "from sandbox.testing import running_sandbox\n"
    "with running_sandbox(resolver_latency_ms={latency}) as url:\n"
    "    print(url, flush=True)\n"
    "    sys.stdin.read()\n"
)


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def mms(i: int) -> str:
    return f"99{i:07d}04641"


def items(count: int) -> Iterator[VerifyItem]:
    for i in range(count):
        yield VerifyItem(handle=f"11084/b{i}", mms_id=mms(i))


async def preload(url: str, count: int) -> None:
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=32)) as client:
        sem = asyncio.Semaphore(32)

        async def one(i: int) -> None:
            async with sem:
                body = {"handle": f"11084/b{i}", "url": f"{url}/discovery/fulldisplay/alma{mms(i)}/{VIEW}"}
                (await client.post(f"{url}/sandbox/registry", json=body)).raise_for_status()

        await asyncio.gather(*(one(i) for i in range(count)))


LIBRARY_HEADER = (
    "MMS ID,Handle URL,dc:title,HTTP Status Code,Status Message,Final Redirect URL,"
    "Returned Correct MMS ID,Titles Match!"
)


def library_csv(path: Path, count: int, url: str) -> None:
    """The handle list as the library's own checker exports it (its header spelling, as is)."""
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(LIBRARY_HEADER + "\r\n")
        for i in range(count):
            final = f"{url}/discovery/fulldisplay/alma{mms(i)}/{VIEW}"
            out.write(
                f'{mms(i)},http://hdl.handle.net/11084/b{i},"Title {i}, a digital title",200,OK,{final},TRUE,TRUE\r\n'
            )


def read_library_csv(path: Path) -> tuple[list[VerifyItem], float]:
    """The items ``handles verify --file`` reads from it, and the seconds reading took."""
    from cli.verify import read_file

    start = time.perf_counter()
    source = read_file(path, prefix="11084")
    assert not source.problems and not source.notes, (source.problems[:3], source.notes)
    return source.items, time.perf_counter() - start


def measure(
    url: str, count: int, concurrency: int, db_url: str, source: Iterable[VerifyItem] | None = None
) -> dict[str, float]:
    settings = load_settings(
        handle_resolver_url=url,
        handle_target_template=f"{url}/discovery/fulldisplay/alma{{mms_id}}/{VIEW}",
        verify_concurrency=concurrency,
        database_url=db_url,
    )
    engine = make_engine(db_url)
    upgrade_schema(engine)
    samples: dict[str, float] = {}
    done = [0]

    with session_scope(engine) as session:

        def sink(batch):  # type: ignore[no-untyped-def]
            for check in record_checks(session, batch):
                session.expunge(check)
            session.commit()
            done[0] += len(batch)
            if "rss_10pct_mb" not in samples and done[0] >= count // 10:
                samples["rss_10pct_mb"] = rss_mb()

        cpu0, wall0 = time.process_time(), time.perf_counter()
        summary = run_verification(
            items(count) if source is None else source,
            settings=settings,
            sink=sink,
            batch_size=200,
            client_options={"rate_per_host": 10_000.0},
        )
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    engine.dispose()
    assert summary.counts["ok"] == count, summary.as_dict()
    return {"wall": wall, "cpu": cpu, "hps": count / wall, "rss_end_mb": rss_mb(), **samples}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=12_102)
    parser.add_argument("--baseline-count", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--latency-ms", type=int, default=100)
    args = parser.parse_args()
    latency = args.latency_ms / 1000

    proc = subprocess.Popen(
        [sys.executable, "-c", SANDBOX.format(latency=args.latency_ms)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        url = proc.stdout.readline().strip()  # type: ignore[union-attr]
        asyncio.run(preload(url, args.count))
        with tempfile.TemporaryDirectory() as tmp:
            base = measure(url, args.baseline_count, 1, f"sqlite:///{tmp}/baseline.db")
            main_run = measure(url, args.count, args.concurrency, f"sqlite:///{tmp}/main.db")
            export = Path(tmp) / "library-export.csv"
            library_csv(export, args.count, url)
            listed, read_seconds = read_library_csv(export)
            assert len(listed) == args.count
            from_csv = measure(url, args.count, args.concurrency, f"sqlite:///{tmp}/csv.db", listed)
    finally:
        proc.stdin.close()  # type: ignore[union-attr]
        proc.wait(timeout=30)

    ideal = args.concurrency / latency
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"verify benchmark: sandbox resolver answering each lookup after {args.latency_ms} ms; "
        f"history written to SQLite in batches of 200; rate cap per host set to 10000/s (not binding)"
    )
    print(
        f"baseline, concurrency 1: {args.baseline_count} handles (a sample) in {base['wall']:.1f} s = "
        f"{base['hps']:.2f} handles/s ({base['hps'] / (1 / latency):.2f} of ideal {1 / latency:.0f}/s); "
        f"extrapolated to {args.count}: {args.count / base['hps'] / 60:.1f} min"
    )
    print(
        f"concurrency {args.concurrency}: {args.count} handles in {main_run['wall']:.1f} s = "
        f"{main_run['hps']:.1f} handles/s; ideal {ideal:.0f}/s; ratio {main_run['hps'] / ideal:.3f} "
        f"(goal >= 0.9); speed-up over baseline x{main_run['hps'] / base['hps']:.1f}"
    )
    print(
        f"from the library's own CSV ({LIBRARY_HEADER.split(',')[0]}, Handle URL, … as exported): "
        f"read {args.count} handles in {read_seconds:.2f} s; {from_csv['hps']:.1f} handles/s, "
        f"{from_csv['hps'] / base['hps']:.1f}× the baseline, {from_csv['hps'] / main_run['hps']:.2f}× the "
        f"generated list"
    )
    print(
        f"CPU: {main_run['cpu']:.1f} s for {args.count} handles ({main_run['cpu'] / args.count * 1000:.2f} ms "
        f"per handle); baseline {base['cpu']:.2f} s"
    )
    print(
        f"memory: peak RSS {peak:.0f} MB; RSS after 10% of the list {main_run.get('rss_10pct_mb', 0):.0f} MB, "
        f"at the end {main_run['rss_end_mb']:.0f} MB"
    )


if __name__ == "__main__":
    main()
