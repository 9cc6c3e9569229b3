"""What ``bench/pipeline.py`` prints: one mode's figures against their goals, and the modes side by side."""

from __future__ import annotations

import argparse
import math
import os
import statistics
from typing import Any

RAISED_RUNNING, RAISED_HOURLY = 100, 1000


def minimum_calls(records: int, mode: str = "polling") -> dict[str, int]:
    """The calls the work needs; with the webhook, Alma's JOB_END event replaces the final GETs."""
    pages = math.ceil(records / 100)
    gets = 0 if mode == "webhook" else 3
    return {"op=run": 3, "instance GET": gets, "set GET": 1, "set members page": pages, "bibs batch": pages}


def row(label: str, value: str, note: str = "") -> str:
    return f"  {label:<44} {value:>14}  {note}"


def report(
    args: argparse.Namespace, base: dict[str, Any], batch: dict[str, Any], by_step: dict[str, list[float]]
) -> bool:
    n = len(batch["set_ids"])
    webhook = batch["mode"] == "webhook"
    print()
    print(
        f"[{batch['mode']} mode"
        + (
            f": JOB_END events to a real `handles webhook`, fallback poll every {args.fallback:g} s]"
            if webhook
            else ": no webhook]"
        )
    )
    print(
        f"Pipeline benchmark: {n} sets of {args.records} records enqueued at once, one worker "
        f"(--concurrency={args.concurrency}), sandbox job_seconds={args.job_seconds:g}, "
        f"POLL_MIN/MAX_SECONDS={args.poll_min:g}/{args.poll_max:g}"
    )
    print(
        f"  Alma job limits raised for this run: ALMA_MAX_API_JOBS_RUNNING={RAISED_RUNNING}, "
        f"ALMA_MAX_RUNS_PER_JOB_HOUR={RAISED_HOURLY}, and the sandbox's max_api_jobs_running / "
        f"max_runs_per_job_hour to the same."
    )
    print(
        f"  Why: real Alma runs 3 API jobs at once and 5 runs of a job per hour, so {n} sets would take "
        f"{math.ceil(n / 5)}+ hours there; this measures the worker system, not Alma's quota."
    )
    print()
    ratio = batch["wall"] / base["wall"] if base["wall"] else float("inf")
    alma_min = 3 * args.job_seconds
    print("Wall time")
    print(row("one set alone", f"{base['wall']:.2f} s", f"(Alma's own job time: {alma_min:g} s)"))
    print(
        row(
            f"{n} sets at once",
            f"{batch['wall']:.2f} s",
            f"(per run: median {statistics.median(batch['per_run']):.2f} s, max {max(batch['per_run']):.2f} s)",
        )
    )
    wall_ok = ratio <= 2.0
    print(row(f"ratio {n} sets / one set", f"{ratio:.2f}×", f"goal ≤ 2×: {'met' if wall_ok else 'NOT met'}"))
    cores = os.cpu_count() or 1
    print(
        row(
            f"CPU during the {n} sets: worker processes",
            f"{batch['worker_cpu']:.2f} s",
            f"= {batch['worker_cpu'] / batch['wall']:.2f} of {cores} cores busy over the wall time",
        )
    )
    print(
        row(
            "CPU during the sets: sandbox + this script",
            f"{batch['bench_cpu']:.2f} s",
            "(Alma's side; not on the worker's machine in production)",
        )
    )
    print()
    minimum = minimum_calls(args.records, batch["mode"])
    min_total = sum(minimum.values())
    calls = batch["calls"]
    total = sum(calls.values())
    print(f"Alma calls per set ({n} sets; one set alone in brackets)")
    kinds = sorted(set(calls) | set(minimum) | set(base["calls"]), key=lambda k: (k not in minimum, k))
    for kind in kinds:
        note = f"minimum {minimum[kind]}" if kind in minimum else "not in the minimum"
        print(row(kind, f"{calls[kind] / n:.2f} [{base['calls'][kind]}]", note))
    per_set = total / n
    print(row("total", f"{per_set:.2f} [{sum(base['calls'].values())}]", f"minimum {min_total}"))
    print(
        row(
            "ratio to the minimum",
            f"{per_set / min_total:.2f}×",
            f"[{sum(base['calls'].values()) / min_total:.2f}×]  polls per set: "
            f"{sum(r['polls'] for r in batch['runs'].values()) / n:.1f} (incl. the final one)",
        )
    )
    refused = {code: c for code, c in batch["answers"].items() if code >= 400}
    print(
        row(
            "Alma answers ≥ 400 (all sets)",
            str(sum(refused.values())),
            (", ".join(f"HTTP {k}: {v}" for k, v in sorted(refused.items())) or "none")
            + f"; events GET answers 400/60332 (no events API): {calls['events GET']}",
        )
    )
    print(
        row(
            "peak Alma requests in one second",
            f"{batch['peak']} [{base['peak']}]",
            f"limit {args.rate_limit}/s (ALMA_RATE_LIMIT paces every worker together; Alma's is 25/s)",
        )
    )
    print(
        row(
            "non-Alma requests per set",
            f"{sum(batch['other'].values()) / n:.2f}",
            ", ".join(f"/{k}: {v / n:.2f}" for k, v in sorted(batch["other"].items())) + " (verification)",
        )
    )
    print()
    delays = [d for ds in by_step.values() for d in ds]
    print(f"Delay from an instance's end to the next step's op=run (Alma's times; {len(delays)} gaps)")
    med, worst = statistics.median(delays), max(delays)
    if webhook:
        print(row("median", f"{med:.2f} s", f"goal ≤ 0.5 s: {'met' if med <= 0.5 else 'NOT met'}"))
        print(row("max", f"{worst:.2f} s", f"goal ≤ 1 s: {'met' if worst <= 1.0 else 'NOT met'}"))
        lags = batch.get("event_lags") or []
        if lags:
            print(
                row(
                    "  of which end → event delivered: median / max",
                    f"{statistics.median(lags):.2f} / {max(lags):.2f} s",
                    "(the sandbox's ticker + sender)",
                )
            )
    else:
        delay_ok = worst <= args.poll_max
        print(row("median", f"{med:.2f} s", f"one poll interval = POLL_MAX_SECONDS = {args.poll_max:g} s"))
        print(row("max", f"{worst:.2f} s", f"goal ≤ {args.poll_max:g} s: {'met' if delay_ok else 'NOT met'}"))
    for step, ds in by_step.items():
        if ds:
            print(row(f"  {step}: median / max", f"{statistics.median(ds):.2f} / {max(ds):.2f} s"))
    base_delays = [d for ds in (base.get("delays") or {}).values() for d in ds]
    if base_delays:
        print(
            row(
                f"one set alone: median / max ({len(base_delays)} gaps)",
                f"{statistics.median(base_delays):.2f} / {max(base_delays):.2f} s",
            )
        )
    print()
    if batch["failed"] or base["failed"]:
        print("FAILED runs:", {**base["failed"], **batch["failed"]})
        return False
    print(
        f"All {n + 1} measured runs succeeded (runs {base['run_ids'][0]}, "
        f"{batch['run_ids'][0]}–{batch['run_ids'][-1]})."
    )
    return True


def side_by_side(args: argparse.Namespace, results: list[tuple[str, Any, Any, Any]]) -> None:
    """The modes next to each other: calls per set and the end → next op=run delay."""
    base_min = sum(minimum_calls(args.records).values())
    print()
    print(f"Side by side ({args.sets} sets at once; Alma calls and polls per set)")
    print(
        f"  {'mode':<9} {'calls':>6} {f'× {base_min}':>7} {'× own min':>11} {'polls':>6}"
        f" {'end → next op=run: median':>26} {'max':>7}"
    )
    for mode, _, batch, by_step in results:
        n = len(batch["set_ids"])
        per_set = sum(batch["calls"].values()) / n
        minimum = sum(minimum_calls(args.records, mode).values())
        polls = sum(r["polls"] for r in batch["runs"].values()) / n
        delays = [d for ds in by_step.values() for d in ds]
        print(
            f"  {mode:<9} {per_set:>6.2f} {per_set / base_min:>6.2f}× {per_set / minimum:>6.2f}× ({minimum})"
            f" {polls:>6.1f} {statistics.median(delays):>24.2f} s {max(delays):>5.2f} s"
        )
    print(f"  × {base_min}: against the minimum with a final instance GET per step, as the issue counts")
    print("  it; own min: without those GETs in webhook mode. Both modes also make the profile")
    print("  set's calls (made while the migration runs), which no polling setting changes.")
