"""Every repair of a run's records, in one place.

- :mod:`outcomes.repair.bib_xml` — pure text edits of a bib's ``dc:identifier`` (``repair_bib_xml``,
  ``canonical_record``, ``NotRepairable``).
- :mod:`outcomes.repair.metadata` — malformed/missing identifiers: the dry run (``plan_repairs``)
  and ``apply_repairs`` (original saved as a ``BibBackup`` before each PUT).
- :mod:`outcomes.repair.child_run` — the repaired bibs into a new itemized set and a child run.
- :mod:`outcomes.repair.restore` — ``restore_run``: the saved originals put back.
- :mod:`outcomes.repair.conflicts` — ``conflict`` records: their evidence (``conflicts``) and the
  Handle server requests that make the expected handle resolve (``plan_conflict_repairs``,
  ``apply_conflict_repairs``), queued through :mod:`handles.requests`.

The CLI commands ``repair``, ``restore`` and ``repair-conflicts`` are ``cli/repair.py``.
"""
