"""A run in SQLite, Alma behind httpx.MockTransport, the local job budget and a clock the test moves."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, select

from config.settings import Settings, get_settings
from pipeline.budget import LocalJobBudget
from pipeline.context import PipelineContext
from pipeline.runs import create_run
from store.db import make_engine
from store.models import Run, RunState, Step, StepStatus, Submission
from store.runs import step_of
from tests.unit.alma.fakes import FakeAlma, make_client

T0 = datetime(2026, 3, 2, 9, 0, 0)


def instance(
    instance_id: str,
    *,
    name: str = "",
    status: str = "RUNNING",
    submitted: datetime | None = None,
    ended: datetime | None = None,
    counters: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One job instance as Alma's JSON shows it."""
    data: dict[str, Any] = {"id": instance_id, "name": name, "status": {"value": status}}
    if submitted:
        data["submit_time"] = submitted.isoformat() + "Z"
    if ended:
        data["end_time"] = ended.isoformat() + "Z"
    if counters:
        data["counter"] = [{"type": {"value": k, "desc": k}, "value": v} for k, v in counters.items()]
    return data


def instances(*items: dict[str, Any]) -> dict[str, Any]:
    return {"job_instance": list(items), "total_record_count": len(items)}


def posted(instance_id: str) -> dict[str, Any]:
    """Alma's answer to ``op=run``."""
    return {"additional_info": {"value": "Job triggered", "link": f"/almaws/v1/instances/{instance_id}"}}


@dataclass
class World:
    engine: Engine
    fake: FakeAlma
    settings: Settings
    budget: LocalJobBudget
    clock: list[datetime] = field(default_factory=lambda: [T0])
    ctx: PipelineContext = field(init=False)

    def __post_init__(self) -> None:
        self.ctx = PipelineContext(
            engine=self.engine,
            alma=make_client(self.fake),
            settings=self.settings,
            budget=self.budget,
            now=lambda: self.clock[0],
        )

    def use_budget(self, budget: LocalJobBudget) -> None:
        self.budget = self.ctx.budget = budget

    def advance(self, seconds: float) -> None:
        self.clock[0] += timedelta(seconds=seconds)

    def job(self, kind: str) -> str:
        return self.settings.job_id(kind)

    def new_run(
        self, *, set_id: str = "7593466560004641", profile_mode: str = "api", done: tuple[str, ...] = ()
    ) -> int:
        """A run past preflight whose steps ``done`` succeeded (ended one minute apart, in order)."""
        with Session(self.engine) as session:
            run = create_run(session=session, set_id=set_id, profile_mode=profile_mode)
            run.state = RunState.RUNNING
            session.add(run)
            assert run.id is not None
            for i, kind in enumerate(done):
                step = step_of(session, run.id, kind)
                step.status, step.alma_job_id = StepStatus.SUCCEEDED, self.job(kind)
                step.instance_id = f"90{run.id}{i}"
                step.ended_at = self.clock[0] - timedelta(minutes=len(done) - i)
                session.add(step)
            session.commit()
            return run.id

    def step(self, run_id: int, kind: str) -> Step:
        with Session(self.engine) as session:
            return step_of(session, run_id, kind)

    def run(self, run_id: int) -> Run:
        with Session(self.engine) as session:
            run = session.get(Run, run_id)
            assert run is not None
            return run

    def set_step(self, run_id: int, kind: str, **values: Any) -> None:
        with Session(self.engine) as session:
            step = step_of(session, run_id, kind)
            for key, value in values.items():
                setattr(step, key, value)
            session.add(step)
            session.commit()

    def submissions(self, run_id: int) -> list[Submission]:
        with Session(self.engine) as session:
            return list(
                session.exec(select(Submission).where(Submission.run_id == run_id).order_by(Submission.id))
            )

    def posts(self, kind: str) -> int:
        return self.fake.count("POST", f"/almaws/v1/conf/jobs/{self.job(kind)}")


@pytest.fixture
def world(tmp_path) -> Iterator[World]:
    engine = make_engine(f"sqlite:///{tmp_path / 'pipeline.db'}")
    SQLModel.metadata.create_all(engine)
    yield World(engine=engine, fake=FakeAlma(), settings=get_settings(), budget=LocalJobBudget())
    engine.dispose()
