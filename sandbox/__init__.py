"""The built-in simulator: Alma, the Handle proxy, the Handle server and Primo on one port.

The other side of the wire — it never imports celery, tasks, workers or the project's Alma client.

Modules: ``config`` (switches), ``seed`` (deterministic records and sets), ``dc`` (Dublin Core
record XML and the jobs' edits), ``jobs`` (job catalogue, instance state machine), ``effects`` (what
the copy, migration and profile jobs do), ``state`` (everything, behind one lock), ``limits`` (Alma
thresholds and injected faults), ``responses`` (Alma JSON/XML bodies), ``alma_routes``,
``proxy_routes``, ``control_routes``, ``reports`` (Events Report exports), ``registry`` (handles),
``handle_server`` (admin API), ``app`` (the Starlette app), ``testing`` (``running_sandbox``).

Endpoints:

- ``/almaws/v1``: ``GET /conf/jobs``, ``GET|POST /conf/jobs/{id}`` (``op=run``),
  ``GET /conf/jobs/{id}/instances[/{iid}[/events]]``, ``GET|POST /conf/sets``,
  ``GET|POST /conf/sets/{id}`` (``op=add_members|delete_members|replace_members``),
  ``GET /conf/sets/{id}/members``, ``GET /bibs?mms_id=``, ``GET|PUT /bibs/{mms_id}``.
  Key ``sandbox-key`` (``Authorization: apikey …`` or ``?apikey=``).
- ``GET /api/handles/{handle}``: the Handle proxy JSON API.
- ``/handle-server/api/handles/{handle}``: the Handle server admin API.
- ``GET /discovery/fulldisplay/alma{mms_id}/{view}``: target pages.
- ``/sandbox``: ``POST reset``, ``GET|POST config``, ``GET log``, ``POST ui/run-profile``,
  ``GET events-report/{job_id}/{instance_id}.csv|.xlsx|.txt``, ``GET records/{mms_id}``,
  ``POST registry``, ``GET health``.
"""
