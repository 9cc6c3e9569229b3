"""What the Alma client returns: a job instance and a bib, read from Alma's JSON."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from alma import statuses
from alma.naming import instance_matches
from alma.xmlshape import from_xml

__all__ = ["DUBLIN_CORE_FORMATS", "Bib", "JobInstance"]

# Alma's record_format values of the Dublin Core family (alma-api.md §5: dc, dcap01, dcap02,
# dcap-etd); marc21, unimarc, kormarc, cnmarc and mods are not, and Alma's DC jobs fail on them.
DUBLIN_CORE_FORMATS = frozenset({"dc", "dcap01", "dcap02", "dcap-etd"})


def _value(field: Any) -> str | None:
    """Alma writes codes as ``{"value": …, "desc": …}``; plain strings pass through."""
    if isinstance(field, dict):
        value = field.get("value")
        return None if value is None else str(value)
    return None if field is None else str(field)


def as_list(value: Any) -> list[Any]:
    """Alma's JSON gives a list, a lone object, or nothing; always a list."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


class JobInstance(BaseModel):
    """One run of an Alma job (``GET /conf/jobs/{job_id}/instances/{id}``)."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str = ""
    status: str = ""
    status_desc: str = ""
    progress: int = 0
    counters: dict[str, str] = Field(default_factory=dict)
    counter_labels: dict[str, str] = Field(default_factory=dict)  # counter code → Alma's description
    alerts: list[str] = Field(default_factory=list)
    submit_time: datetime | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    submitted_by: str | None = None
    raw: dict[str, Any] = Field(default_factory=dict, repr=False)

    @field_validator("submit_time", "start_time", "end_time", mode="before")
    @classmethod
    def _blank_time(cls, value: Any) -> Any:
        return None if value in ("", None) else value

    @classmethod
    def from_alma(cls, data: dict[str, Any]) -> JobInstance:
        """Build from Alma's JSON; raises ``pydantic.ValidationError`` when there is no id."""
        status = data.get("status")
        counters, labels = {}, {}
        for counter in as_list(data.get("counter")):
            key = _value(counter.get("type")) if isinstance(counter, dict) else None
            if key:
                counters[key] = str(counter.get("value", ""))
                kind = counter.get("type")
                if isinstance(kind, dict) and kind.get("desc"):
                    labels[key] = str(kind["desc"])
        alerts = [a for a in (_value(x) for x in as_list(data.get("alert"))) if a]
        try:
            progress = int(float(data.get("progress") or 0))
        except (TypeError, ValueError):
            progress = 0
        return cls(
            id=str(data.get("id", "")) or None,  # type: ignore[arg-type]  # None → ValidationError
            name=str(data.get("name") or ""),
            status=_value(status) or "",
            status_desc=str(status.get("desc") or "") if isinstance(status, dict) else "",
            progress=progress,
            counters=counters,
            counter_labels=labels,
            alerts=alerts,
            submit_time=data.get("submit_time"),
            start_time=data.get("start_time"),
            end_time=data.get("end_time"),
            submitted_by=_value(data.get("submitted_by")),
            raw=data,
        )

    def matches_job_name(self, job_name: str) -> bool:
        """Whether Alma's name for this run is ``job_name`` as Alma writes it (:mod:`alma.naming`)."""
        return instance_matches(self.name, job_name)

    @classmethod
    def from_alma_xml(cls, text: str) -> JobInstance:
        """Build from Alma's XML ``<job_instance>`` (same fields as :meth:`from_alma`)."""
        return cls.from_alma(from_xml(text))

    @property
    def is_terminal(self) -> bool:
        """Finished, one way or the other: Alma will not change this instance any more."""
        if self.status in statuses.SUCCESS or self.status in statuses.FAILURE:
            return True
        return self.status not in statuses.NON_TERMINAL and self.end_time is not None

    @property
    def is_success(self) -> bool:
        """Finished with a success status (per-record outcomes still need the counters/events)."""
        return self.status in statuses.SUCCESS

    @property
    def is_failure(self) -> bool:
        """Finished without success."""
        return self.is_terminal and not self.is_success


class Bib(BaseModel):
    """A bib record from ``GET /bibs``; ``record_xml`` is the inner Dublin Core ``<record>``."""

    model_config = ConfigDict(frozen=True)

    mms_id: str
    record_format: str = ""
    title: str = ""
    record_xml: str = ""
    suppress_from_publishing: bool = False  # not published to Primo yet (e.g. "Pending Review")
    raw: dict[str, Any] = Field(default_factory=dict, repr=False)

    @classmethod
    def from_alma(cls, data: dict[str, Any]) -> Bib:
        """Build from one ``bib`` object of Alma's JSON (``anies[0]`` holds the record XML)."""
        anies = as_list(data.get("anies"))
        return cls(
            mms_id=str(data.get("mms_id", "")),
            record_format=str(_value(data.get("record_format")) or ""),
            title=str(data.get("title") or ""),
            record_xml=str(anies[0]) if anies else "",
            suppress_from_publishing=str(_value(data.get("suppress_from_publishing")) or "").strip().lower()
            == "true",
            raw=data,
        )

    @property
    def is_dublin_core(self) -> bool:
        """A Dublin Core record (an unknown, empty format is given the benefit of the doubt)."""
        return not self.record_format or self.record_format.strip().lower() in DUBLIN_CORE_FORMATS
