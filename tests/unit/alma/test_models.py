"""JobInstance and Bib read from Alma's JSON; the package's public surface."""

from __future__ import annotations

import pydantic
import pytest

import alma
from alma import Bib, JobInstance

REAL = {
    "id": "9563643080000561",
    "name": "run 1",
    "progress": 100,
    "status": {"value": "COMPLETED_SUCCESS", "desc": "Completed Successfully"},
    "submit_time": "2025-10-05T09:11:32.592Z",
    "end_time": "2025-10-05T09:11:36.463Z",
    "submitted_by": {"value": "API", "desc": "API"},
    "alert": [{"value": "alert_general_success", "desc": "The job completed successfully."}],
    "counter": [
        {"type": {"value": "import_research_assets_files.asset_failed", "desc": "failed"}, "value": "1"}
    ],
}


def test_real_instance_json_is_read() -> None:
    inst = JobInstance.from_alma(REAL)
    assert (inst.id, inst.status, inst.status_desc, inst.progress) == (
        "9563643080000561",
        "COMPLETED_SUCCESS",
        "Completed Successfully",
        100,
    )
    assert inst.counters == {"import_research_assets_files.asset_failed": "1"}
    assert inst.alerts == ["alert_general_success"]
    assert inst.submitted_by == "API" and inst.end_time is not None and inst.start_time is None
    assert inst.is_terminal and inst.is_success and not inst.is_failure
    assert "raw" not in repr(inst)


@pytest.mark.parametrize(
    ("status", "end", "terminal", "success", "failure"),
    [
        ("RUNNING", None, False, False, False),
        ("QUEUED", None, False, False, False),
        ("FINALIZING", "2025-10-05T09:11:36Z", False, False, False),
        ("COMPLETED_WARNING", None, True, True, False),
        ("COMPLETED_NO_BULKS", None, True, True, False),
        ("COMPLETED_FAILED", None, True, False, True),
        ("FAILED", None, True, False, True),
        ("SYSTEM_ABORTED", None, True, False, True),
        ("SOMETHING_NEW", None, False, False, False),
        ("SOMETHING_NEW", "2025-10-05T09:11:36Z", True, False, True),
    ],
)
def test_status_groups(status, end, terminal, success, failure) -> None:
    inst = JobInstance.from_alma({"id": "1", "status": {"value": status}, "end_time": end})
    assert (inst.is_terminal, inst.is_success, inst.is_failure) == (terminal, success, failure)


def test_instance_without_id_is_refused() -> None:
    with pytest.raises(pydantic.ValidationError):
        JobInstance.from_alma({"status": {"value": "RUNNING"}})


def test_bib_takes_the_record_from_anies() -> None:
    bib = Bib.from_alma({"mms_id": "991", "record_format": "dc", "title": "T", "anies": ["<record/>"]})
    assert (bib.mms_id, bib.record_format, bib.title, bib.record_xml) == ("991", "dc", "T", "<record/>")
    assert Bib.from_alma({"mms_id": "992"}).record_xml == ""


def test_public_names_are_sorted_and_exported() -> None:
    assert alma.__all__ == sorted(alma.__all__)
    assert all(hasattr(alma, name) for name in alma.__all__)
    public = {n for n, v in vars(alma).items() if not n.startswith("_") and not isinstance(v, type(alma))}
    assert public == set(alma.__all__)


def test_alma_never_imports_celery_tasks_or_workers() -> None:
    import pathlib
    import re

    root = pathlib.Path(alma.__file__).parent
    for path in root.glob("*.py"):
        assert not re.search(r"^\s*(from|import)\s+(celery|tasks|workers)\b", path.read_text(), re.M), path
