"""What ``handles verify`` prints: counts per verdict first, then the handles that are not ok."""

from __future__ import annotations

from collections.abc import Sequence

from cli import render
from handles.verdict import VerifyResult, VerifySummary

__all__ = ["problem_lines", "summary_lines"]

WORDS = {
    "ok": "resolve to their expected target",
    "wrong_target": "resolve somewhere else",
    "not_found": "do not resolve",
    "unpublished": "do not resolve; the record is suppressed from publishing",
    "error": "could not be checked (the resolver did not answer)",
    "regressions": "were ok before and are not now",
}


def summary_lines(label: str, summary: VerifySummary, invalid: int) -> list[str]:
    """``checked: …`` then one line per verdict with its count and meaning."""
    lines = render.wrapped(f"checked: {label} ({summary.total} handles)", indent="", max_lines=None)
    counts = {k: v for k, v in summary.as_dict().items() if k not in ("total", "no_target")}
    if invalid:
        counts["invalid input"] = invalid
    width = max(len(k) for k in counts)
    number = max(len(str(v)) for v in counts.values())
    for key, value in counts.items():
        head = f"  {key.ljust(width)}  {str(value).rjust(number)}"
        words = WORDS.get(key, "lines of the file that are not usable handles")
        text = render.wrapped(words, indent=" " * (len(head) + 2), max_lines=2)
        text[0] = head + text[0][len(head) :]
        lines += text
    return lines


def problem_lines(
    input_problems: Sequence[str], results: Sequence[VerifyResult], *, show_all: bool
) -> list[str]:
    """The handles that are not ok, grouped by verdict, capped at ``render.LIMIT`` unless ``show_all``."""
    bad = sorted((r for r in results if not r.ok), key=lambda r: (r.verification, r.handle))
    lines: list[str] = []
    if bad:
        shown = bad if show_all else bad[: render.LIMIT]
        lines.append(f"not ok ({len(bad)})")
        header, *blocks = render.aligned_blocks(
            [[r.handle, r.item.mms_id or "-", r.verification] for r in shown], ["handle", "mms_id", "verdict"]
        )
        lines += header
        for result, block in zip(shown, blocks, strict=True):
            lines += block
            if result.detail and result.verification != "not_found":  # "not found" says it all
                lines += render.wrapped(result.detail, max_lines=1)
        lines += render.capped(len(bad), len(shown), "`--all` lists them all, `--json` gives every result")
    if input_problems:
        shown_input = list(input_problems) if show_all else list(input_problems)[: render.LIMIT]
        lines.append(f"input lines that are not usable handles ({len(input_problems)})")
        for problem in shown_input:
            lines += render.wrapped(problem, indent="  ", max_lines=2)
        lines += render.capped(len(input_problems), len(shown_input))
    return lines
