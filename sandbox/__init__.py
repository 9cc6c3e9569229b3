"""The built-in simulator: Alma, the Handle proxy, the Handle server and Primo on one port.

The other side of the wire — it never imports celery, tasks, workers or the project's Alma client.

Modules: ``config`` (switches), ``seed`` (deterministic records and sets), ``dc`` (Dublin Core
record XML and the jobs' edits), ``jobs`` (job catalogue, instance state machine), ``effects`` (what
the copy, migration and profile jobs do), ``state`` (everything, behind one lock), ``limits`` (Alma
thresholds and injected faults), ``responses`` (Alma JSON/XML bodies), ``alma_routes``,
``alma_xml`` (XML form and format choice), ``bib_routes``, ``proxy_routes``, ``control_routes``,
``reports`` (Events Report exports), ``registry`` (handles), ``handle_server`` (admin API), ``app`` (the Starlette app), ``testing`` (``running_sandbox``).

Endpoints:

- ``/almaws/v1``: ``GET /conf/jobs``, ``GET|POST /conf/jobs/{id}`` (``op=run``),
  ``GET /conf/jobs/{id}/instances[/{iid}[/events]]``, ``GET|POST /conf/sets``,
  ``GET|POST /conf/sets/{id}`` (``op=add_members|delete_members|replace_members``),
  ``GET /conf/sets/{id}/members``, ``GET /bibs?mms_id=``, ``GET|PUT /bibs/{mms_id}``.
  Key ``sandbox-key`` (``Authorization: apikey …`` or ``?apikey=``); a wrong key is HTTP 400
  ``UNAUTHORIZED``, an unknown path the API gateway's 404 (``web_service_result`` wrapping).
  XML unless JSON is asked for (``Accept: application/json`` or ``format=json``, which wins).
  Shapes recorded from real Alma (tests/fixtures/alma-samples, S01–S15) are followed exactly: job
  instances (named ``<job_name> - <YYYY-MM-DD h:mm AM>``, ``submitted_by`` ``exl_api``), run
  answers, job details, brief jobs-list items, sets, errors. Guesses, for want of any recording:
  the bodies of 402222/402223/60347/402231/402248/402249 and 402230 (the sandbox's own), a running
  instance, the XML of lists, members and events, the gateway's 404 in XML. ``op=run`` of the
  profile job is refused (402248) unless the ``profile_api`` switch allows it.
- ``GET /api/handles/{handle}``: the Handle proxy JSON API.
- ``/handle-server/api/handles/{handle}``: the Handle server admin API.
- ``GET /discovery/fulldisplay/alma{mms_id}/{view}``: target pages.
- ``/sandbox``: ``POST reset``, ``GET|POST config``, ``GET log``, ``POST ui/run-profile``,
  ``GET events-report/{job_id}/{instance_id}.csv|.xlsx|.txt``, ``GET records/{mms_id}``,
  ``POST registry``, ``GET health``.
"""
