"""The Events Report of Alma's Handle Migration job: one module per thing done with it.

- :mod:`outcomes.events.parse` — one line's text → :class:`~outcomes.events.parse.ParsedEvent`
  (``parse_event``, ``clean_description``, ``fingerprint``).
- :mod:`outcomes.events.read` — a file → rows (``read_events``: CSV, XLSX, or the page's copied
  text, chosen with certainty by ``detect_format``; ``EventsFileError``); tables are read by
  :mod:`outcomes.sheets`, XLSX streamed (and bounded) by :mod:`outcomes.events.xlsx`.
- :mod:`outcomes.events.window` — the run's migration start–end: events dated outside it are
  another run's (``EventsWindowError``).
- :mod:`outcomes.events.store` — rows → the run's ``EventLine`` rows, idempotently (``import_rows``,
  ``import_file``, ``import_api_events``).

The CLI group ``handles events`` is ``cli/events.py``; classifying the run's records from the
stored lines is :mod:`outcomes.classify`.
"""
