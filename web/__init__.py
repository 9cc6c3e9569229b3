"""``handles web``: a read-only page for operators (runs, steps, records, verification, requests).

An adapter like the CLI: it reads the database through ``store`` and the public helpers of
``outcomes`` and ``handles``, and never changes anything. Every page is behind HTTP Basic auth
(``HANDLES_WEB_AUTH=user:password``); :func:`web.app.create_app` refuses to build without it.
"""

from web.app import create_app

__all__ = ["create_app"]
