"""The Starlette app behind ``handles web``: read-only pages, every one behind Basic auth.

Routes (all GET):

``/``                              the runs: state, set, step progress, what each waits for
``/runs/{id}``                     one run: steps with Alma instance ids and counters, outcome counts
                                   with the next step for each, operator instructions when waiting
``/runs/{id}/records``             its records: ``?outcome=&verification=&q=&page=``
``/runs/{id}/records.csv|.json|.xlsx`` the same records (all pages) as the report's CSV, JSON, XLSX
``/verification``                  the verification history: ``?run=&regressions=1&page=``
``/requests``                      the Handle server requests: ``?status=``
``/static/…``                      the style sheet (served from this package, no CDN)
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from markupsafe import Markup, escape
from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from outcomes.current import current_counts
from outcomes.report import write_csv, write_json
from outcomes.report_xlsx import report_title, write_xlsx
from store.models import RequestStatus, RunState
from store.runs import RunNotFound, get_run
from web import views
from web.auth import BasicAuth, parse_credentials

__all__ = ["create_app"]

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

HERE = Path(__file__).resolve().parent


def _zone_label(settings: Any) -> str:
    if settings.handles_timezone:
        return str(settings.handles_timezone)
    return datetime.now().astimezone().tzname() or "local time"


def _templates(settings: Any) -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    zone = settings.timezone()

    def local(value: datetime | None, seconds: bool = False) -> str:
        if value is None:
            return ""
        aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value
        return aware.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")

    def commands(text: str) -> Markup:
        """Escape ``text`` and show each `command` in it as code."""
        parts = str(escape(text)).split("`")
        return Markup("".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts)))

    templates.env.filters["local"] = local
    templates.env.filters["commands"] = commands
    templates.env.globals["zone"] = _zone_label(settings)
    templates.env.globals["RunState"] = RunState
    return templates


def create_app(*, settings: Any, engine: Engine) -> Starlette:
    """The web app for ``settings`` reading ``engine``; :class:`web.auth.AuthNotConfigured` without auth."""
    credentials = parse_credentials(settings.handles_web_auth)
    templates = _templates(settings)

    def page(request: Request, name: str, status_code: int = 200, **context: Any) -> Response:
        return templates.TemplateResponse(request, name, context, status_code=status_code)

    def session() -> Session:
        return Session(engine)

    def run_or_404(db: Session, run_id: int) -> Any:
        try:
            return get_run(db, run_id)
        except RunNotFound:
            raise HTTPException(404, f"There is no run {run_id}.") from None

    def runs(request: Request) -> Response:
        with session() as db:
            lines = views.runs_overview(db)
        return page(request, "runs.html", lines=lines, nav="runs")

    def run_detail(request: Request) -> Response:
        run_id = request.path_params["run_id"]
        with session() as db:
            run = run_or_404(db, run_id)
            steps = views.step_rows(db, run_id)
            context = dict(
                run=run,
                steps=steps,
                line=views.run_line(run, steps),
                summary=views.outcome_summary(db, run_id, settings, ended=RunState(run.state).is_terminal),
                children=views.child_runs(db, run_id),
                operator_waiting=run.state == RunState.WAITING_OPERATOR,
            )
        return page(request, "run.html", nav="runs", **context)

    def records(request: Request) -> Response:
        run_id = request.path_params["run_id"]
        flt = views.RecordFilter.from_query(request.query_params)
        with session() as db:
            run = run_or_404(db, run_id)
            result = views.record_page(db, run_id, settings, flt)
            summary = views.outcome_summary(db, run_id, settings)
        return page(
            request,
            "records.html",
            nav="runs",
            run=run,
            flt=flt,
            result=result,
            summary=summary,
            verifications=views.VERIFICATIONS,
        )

    def download(request: Request) -> Response:
        run_id = request.path_params["run_id"]
        fmt = request.path_params["fmt"]
        if fmt not in ("csv", "json", "xlsx"):
            raise HTTPException(404, f"There is no {fmt} download; choose CSV, JSON or XLSX.")
        flt = views.RecordFilter.from_query(request.query_params)
        with session() as db:
            run_or_404(db, run_id)
            rows = views.filtered_rows(db, run_id, settings, flt)
            body: str | bytes
            if fmt == "xlsx":
                binary = io.BytesIO()
                title = report_title(db, run_id, settings.timezone())
                write_xlsx(rows, binary, title=title, run_id=run_id, counts=current_counts(db, run_id))
                body = binary.getvalue()
            else:
                out = io.StringIO()
                (write_csv if fmt == "csv" else write_json)(rows, out)
                body = out.getvalue()
        media = {"csv": "text/csv; charset=utf-8", "json": "application/json", "xlsx": XLSX}[fmt]
        name = f"run-{run_id}-records.{fmt}"
        return Response(  # built in memory: 12,000 records make about 1.5 MB
            body,
            media_type=media,
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    def verification(request: Request) -> Response:
        params = request.query_params
        run_text = (params.get("run") or "").strip()
        run_id = int(run_text) if run_text.isdigit() else None
        regressions_only = params.get("regressions") in ("1", "on", "yes", "true")
        page_no = max(1, int(params["page"])) if (params.get("page") or "").isdigit() else 1
        with session() as db:
            rows, total = views.checks(db, run_id=run_id, regressions_only=regressions_only, page=page_no)
            _, regression_total = views.checks(db, run_id=run_id, regressions_only=True, page=1)
        return page(
            request,
            "verification.html",
            nav="verification",
            rows=rows,
            total=total,
            regression_total=regression_total,
            run_id=run_id,
            regressions_only=regressions_only,
            page_no=page_no,
            pages=max(1, -(-total // views.PAGE_SIZE)),
        )

    def requests_page(request: Request) -> Response:
        from handles.requests import list_requests

        status = (request.query_params.get("status") or "").strip()
        if status not in {s.value for s in RequestStatus}:
            status = ""
        with session() as db:
            rows = list_requests(db, status=status or None, limit=500)
        return page(
            request,
            "requests.html",
            nav="requests",
            rows=rows,
            status=status,
            statuses=[s.value for s in RequestStatus],
        )

    async def not_found(request: Request, exc: Exception) -> Response:
        detail = getattr(exc, "detail", None) or "There is no such page."
        code = getattr(exc, "status_code", 404)
        return page(request, "error.html", status_code=code, title="Not found", message=detail)

    async def server_error(request: Request, exc: Exception) -> Response:
        message = " ".join(str(exc).split())[:300] or type(exc).__name__
        return page(
            request,
            "error.html",
            status_code=500,
            title="Something went wrong",
            message=f"The page could not be read from the database ({type(exc).__name__}: {message}).",
        )

    routes = [
        Route("/", runs, name="runs"),
        Route("/runs/{run_id:int}", run_detail, name="run"),
        Route("/runs/{run_id:int}/records", records, name="records"),
        Route("/runs/{run_id:int}/records.{fmt}", download, name="download"),
        Route("/verification", verification, name="verification"),
        Route("/requests", requests_page, name="requests"),
        Mount("/static", app=StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={HTTPException: not_found, 500: server_error},
    )
    app.add_middleware(BasicAuth, credentials=credentials)
    return app
