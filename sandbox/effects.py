"""What the three jobs do to the sandbox's records and handle registry, applied once per instance.

- Copy (M48401): each ``dcterms:identifier`` is copied into a ``dc:identifier``, attributes included.
- DG Handle Migration (M48402): per record, in set order — Alma already holds a handle X → "was
  skipped … already has a handle identifier X"; a usable handle URL in ``dc:identifier`` → Alma takes
  it, no event; otherwise → "was skipped … does not have a handle identifier". A locked record
  "failed. Reason: The record is locked by another process" (once).
- Profile (M48403, Create and Update): every record's Alma handle is registered → target URL; a
  record without one gets the next sequential handle ``{prefix}/{n}`` from the control number first;
  a record suppressed from publishing (``seed.bib_flags``) gets none yet.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox import dc, seed
from sandbox.jobs import Event, Instance

if TYPE_CHECKING:
    from sandbox.state import SandboxState

REASON_HAS = "BIB record MMS ID {mms} already has a handle identifier {handle}"
REASON_HAS_NOT = "BIB record MMS ID {mms} does not have a handle identifier"
REASON_LOCKED = "The record is locked by another process"
SUCCESS_ALERT = (
    "alert_general_success",
    "The job completed successfully. For more information view the report details "
    "(see 'View' in Monitor Jobs).",
)


def skipped(mms: str, reason: str) -> str:
    return f"Record {mms} was skipped. Reason: {reason}"


def failed(mms: str, reason: str) -> str:
    return f"Record {mms} failed. Reason: {reason}"


def apply(state: SandboxState, inst: Instance, now: float) -> None:
    """Carry out ``inst`` on its set's current members; fills counters, events and alerts."""
    members = state.member_ids(inst.set_id)
    records = [r for r in (state.record(m) for m in members) if r is not None]
    kind = inst.job.effect
    if kind == "copy":
        changed = 0
        for rec in records:
            try:
                new_xml, added = dc.copy_dcterms_identifiers(rec.xml)
            except dc.RecordXmlError:
                continue
            if added:
                rec.xml = new_xml
                changed += 1
        inst.counters = [
            ("c.processed", "Records processed", str(len(records))),
            ("c.updated", "Records updated", str(changed)),
            ("c.exceptions", "Records with exceptions", "0"),
        ]
    elif kind == "migration":
        skipped_n = failed_n = 0
        for rec in records:
            if rec.lock_once:
                rec.lock_once = False
                failed_n += 1
                inst.events.append(Event("", rec.mms_id, failed(rec.mms_id, REASON_LOCKED), now, "Error"))
                continue
            if rec.alma_handle:
                skipped_n += 1
                reason = REASON_HAS.format(mms=rec.mms_id, handle=rec.alma_handle)
                inst.events.append(Event("", rec.mms_id, skipped(rec.mms_id, reason), now))
                continue
            try:
                handle = dc.usable_handle(rec.xml, state.config.handle_prefix)
            except dc.RecordXmlError:
                handle = None
            if handle:
                rec.alma_handle = handle
                continue
            skipped_n += 1
            inst.events.append(
                Event("", rec.mms_id, skipped(rec.mms_id, REASON_HAS_NOT.format(mms=rec.mms_id)), now)
            )
        inst.counters = [
            ("c.processed", "Records processed", str(len(records))),
            ("c.skipped", "Records skipped", str(skipped_n)),
            ("c.exceptions", "Records with exceptions", str(failed_n)),
        ]
    elif kind == "profile":
        created = updated = 0
        for rec in records:
            if seed.bib_flags(rec.mms_id)[1]:
                continue  # suppressed from publishing: no handle is registered for it yet
            if not rec.alma_handle:
                rec.alma_handle = state.mint_handle()
                created += 1
            else:
                updated += 1
            state.registry.set_url(
                rec.alma_handle,
                state.config.target_url(rec.mms_id),
                source="alma",
                prefix=state.config.handle_prefix,
            )
        inst.counters = [
            ("c.processed", "Records processed", str(len(records))),
            ("c.handles_created", "Handles created", str(created)),
            ("c.handles_updated", "Handles updated", str(updated)),
            ("c.exceptions", "Records with exceptions", "0"),
        ]
    else:
        inst.counters = [("c.processed", "Records processed", str(len(records)))]
    for k, event in enumerate(inst.events, start=1):
        event.event_id = f"{inst.id[:9]}{k:07d}"
    inst.alerts = [SUCCESS_ALERT]


def apply_failure(inst: Instance, status: str) -> None:
    """An injected failure: nothing changes; Alma's alert says the job failed."""
    inst.counters = [
        ("c.processed", "Records processed", "0"),
        ("c.exceptions", "Records with exceptions", "0"),
    ]
    inst.alerts = [("alert_general_failure", "The job failed. See the job report for details.")]
    _ = status
