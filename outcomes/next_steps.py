"""What to do next about a record, per outcome: one sentence each, in a librarian's words.

The one place these sentences live: the web page shows them now, and ``handles status`` and the
report are to show the same ones. ``RUN_ID`` in a sentence is replaced by the run's id
(:func:`next_step`). An outcome with nothing left to do has an empty sentence.
"""

from __future__ import annotations

__all__ = ["MEANINGS", "NEXT_STEPS", "next_step", "next_step_lines"]

#: outcome → what the librarian does next (``RUN_ID`` stands for the run's id)
NEXT_STEPS: dict[str, str] = {
    "migrated": "",
    "already_migrated": "",
    "conflict": "Alma holds another handle: run `handles repair-conflicts RUN_ID`.",
    "missing_identifier": "add the handle to the record's metadata: run `handles repair RUN_ID`.",
    "malformed_identifier": "fix the handle in the record's metadata: run `handles repair RUN_ID`.",
    "duplicate_handle": "decide which record keeps the handle; fix the other's metadata.",
    "wrong_format": "not a Dublin Core record: remove it from the set.",
    "failed": "re-run only these records with `handles rerun RUN_ID --outcome failed`.",
    "unknown": "import the Events Report: `handles events import RUN_ID FILE`.",
}

#: outcome → what it means, in a few words (CONTRACT.md's list)
MEANINGS: dict[str, str] = {
    "migrated": "Alma took the expected handle",
    "already_migrated": "Alma already had the expected handle",
    "conflict": "Alma holds a different handle than the expected one",
    "missing_identifier": "no handle in the record's metadata",
    "malformed_identifier": "a handle Alma cannot use",
    "duplicate_handle": "another record claims the same handle",
    "wrong_format": "not a Dublin Core record",
    "failed": "the job failed for this record",
    "unknown": "no evidence either way yet",
}


def next_step(outcome: str, run_id: int | str | None = None) -> str:
    """The next step for ``outcome``, with the run's id filled in; "" when nothing is left to do."""
    text = NEXT_STEPS.get(outcome, "")
    return text.replace("RUN_ID", str(run_id)) if run_id is not None else text


def next_step_lines(counts: dict[str, int], run_id: int | str, width: int = 80) -> list[str]:
    """For each outcome with a count and something left to do: its next step, wrapped to ``width``.

    ``handles status RUN_ID`` prints these after the run's table.
    """
    import textwrap

    lines: list[str] = []
    for outcome, count in counts.items():
        step = next_step(outcome, run_id)
        if not count or not step:
            continue
        if not lines:
            lines.append("next steps:")
        lines.extend(
            textwrap.wrap(
                f"{outcome} ({count}): {step}",
                width=width,
                initial_indent="  ",
                subsequent_indent="    ",
                break_on_hyphens=False,
                break_long_words=False,
            )
        )
    return lines
