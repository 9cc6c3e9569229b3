"""Alma's recorded answers are the contract (issue 10): (b) the sandbox answers in the same shape.

Asked over real HTTP for the same kind of answer as each recorded one, the sandbox gives the same
keys, nesting and value types; every difference accepted on purpose is listed in
``recorded_samples.ACCEPTED`` with its reason, and a difference that disappears fails too (so the
list stays true). The product's own parsing of the samples: ``test_recorded_samples``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any
from xml.etree.ElementTree import Element

import httpx
import pytest
from defusedxml.ElementTree import fromstring

from alma import AlmaNotFound, JobInstance
from alma.client import run_answer_instance_id
from alma.errors import error_from_response
from alma.xmlshape import from_xml
from sandbox import seed
from sandbox.testing import configure, running_sandbox
from tests.support import wait_for
from tests.unit.alma.recorded_samples import (
    ACCEPTED,
    JSON_ACCEPT,
    sample,
    sample_json,
)


# --- (b) the sandbox answers in the same shape -----------------------------------------------------
def json_shape(value: Any, path: str = "") -> set[str]:
    """Every path of ``value`` with its type: ``counter[]/type/value|str``."""
    if isinstance(value, dict):
        found = {f"{path}|object"} if path else set()
        for key, item in value.items():
            found |= json_shape(item, f"{path}/{key}" if path else key)
        return found
    if isinstance(value, list):
        found = {f"{path}|list"}
        for item in value[:1]:
            found |= json_shape(item, path + "[]")
        return found
    kind = {bool: "bool", int: "int", float: "number", str: "str", type(None): "null"}[type(value)]
    return {f"{path}|{kind}"}


def xml_shape(element: Element, path: str = "") -> set[str]:
    """Every element path, its attributes (``path@desc``) and the root's namespace (``root{ns}``)."""
    tag = str(element.tag)
    local = tag.rsplit("}", 1)[-1]
    here = f"{path}/{local}" if path else local
    found = {here} | {f"{here}@{name}" for name in element.attrib}
    if not path:
        found.add(f"{here}{{{tag[1:].split('}')[0] if tag.startswith('{') else ''}}}")
    for child in element:
        found |= xml_shape(child, here)
    return found


def differences(recorded: set[str], sandbox: set[str]) -> set[str]:
    """``-path``/``+path`` for keys on one side only; ``path: a != b`` for a changed type."""

    def split(items: set[str]) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for item in items:
            key, _, kind = item.rpartition("|") if "|" in item else (item, "", "")
            out.setdefault(key, set()).add(kind)
        return out

    rec, got = split(recorded), split(sandbox)
    diffs = {f"-{k}" for k in rec.keys() - got.keys()} | {f"+{k}" for k in got.keys() - rec.keys()}
    for key in rec.keys() & got.keys():
        if rec[key] != got[key] and not ({"null"} & (rec[key] | got[key])):
            diffs.add(f"{key}: {'/'.join(sorted(rec[key]))} != {'/'.join(sorted(got[key]))}")
    # a key on one side only is one difference, not one per key nested under it
    return {d for d in diffs if not any(d.startswith((o + "[", o + "/")) for o in diffs if o != d)}


def assert_same_shape(name: str, recorded: set[str], sandbox: set[str]) -> None:
    diffs = differences(recorded, sandbox)
    # the XML namespace is an entry of its own ("root{ns}"): compare it as an on-both-sides key
    accepted = ACCEPTED.get(name, {})
    ns_rec = {d for d in recorded if d.endswith("}")}
    ns_got = {d for d in sandbox if d.endswith("}")}
    diffs = {d for d in diffs if not d[1:].endswith("}")}
    if ns_rec != ns_got:
        diffs.add(next(iter(ns_rec)).split("{")[0] + "{}")
    assert diffs == set(accepted), (
        f"{name}: unexpected {sorted(diffs - set(accepted))}, gone {sorted(set(accepted) - diffs)}"
    )


@pytest.fixture(scope="module")
def sandbox() -> Iterator[str]:
    with running_sandbox(job_seconds=0.3) as url:  # every other switch at its default
        yield url


@pytest.fixture(scope="module")
def completed(sandbox: str) -> tuple[str, str]:
    """A finished API run of the copy job: (job id, instance id)."""
    params = [
        {"name": {"value": "set_id"}, "value": seed.SEED_SET_ID},
        {"name": {"value": "job_name"}, "value": "recorded-shape run"},
    ]
    answer = httpx.post(
        f"{sandbox}/almaws/v1/conf/jobs/M48401",
        params={"op": "run"},
        json={"parameter": params},
        headers=JSON_ACCEPT,
    )
    assert answer.status_code == 200, answer.text
    iid = run_answer_instance_id(answer.json())
    url = f"{sandbox}/almaws/v1/conf/jobs/M48401/instances/{iid}"
    wait_for(lambda: httpx.get(url, headers=JSON_ACCEPT).json()["end_time"], timeout=10, what="run finished")
    return "M48401", iid


integration = pytest.mark.integration


@integration
def test_sandbox_instance_json(sandbox: str, completed: tuple[str, str]) -> None:
    job_id, iid = completed
    got = httpx.get(f"{sandbox}/almaws/v1/conf/jobs/{job_id}/instances/{iid}", headers=JSON_ACCEPT).json()
    name = "S01_job_instance_completed.json"
    assert_same_shape(name, json_shape(sample_json(name)), json_shape(got))
    parsed = JobInstance.from_alma(got)
    assert parsed.matches_job_name("recorded-shape run") and parsed.name != "recorded-shape run"
    assert got["submitted_by"] == {"value": "exl_api", "desc": "Ex Libris, API"}


@integration
def test_sandbox_instance_xml(sandbox: str, completed: tuple[str, str]) -> None:
    job_id, iid = completed
    plain = httpx.get(  # no Accept: Alma answers XML
        f"{sandbox}/almaws/v1/conf/jobs/{job_id}/instances/{iid}",
        headers={"Authorization": "apikey sandbox-key"},
    )
    assert plain.headers["content-type"].startswith("application/xml")
    got = xml_shape(fromstring(plain.text.encode()))
    for name in ("S02_job_instance_completed.xml", "S14_job_instance_fixture.xml"):
        assert_same_shape(name, xml_shape(fromstring(sample(name).encode())), got)
    assert JobInstance.from_alma_xml(plain.text).is_success


@integration
def test_sandbox_run_answer_json(sandbox: str, completed: tuple[str, str]) -> None:
    params = [
        {"name": {"value": "set_id"}, "value": seed.DEMO_SET_ID},
        {"name": {"value": "job_name"}, "value": "x"},
    ]
    got = httpx.post(
        f"{sandbox}/almaws/v1/conf/jobs/M48402",
        params={"op": "run"},
        json={"parameter": params},
        headers=JSON_ACCEPT,
    ).json()
    name = "S03_run_job_response.json"
    assert_same_shape(name, json_shape(sample_json(name)), json_shape(got))
    info = "S15_run_job_additional_info_2017.json"
    assert_same_shape(
        info, json_shape(sample_json(info)), json_shape({"additional_info": got["additional_info"]})
    )


@integration
def test_sandbox_run_answer_xml(sandbox: str, completed: tuple[str, str]) -> None:
    body = (
        f"<job><parameters><parameter><name>set_id</name><value>{seed.EMPTY_SET_ID}</value></parameter>"
        "<parameter><name>job_name</name><value>xml shape</value></parameter></parameters></job>"
    )
    answer = httpx.post(
        f"{sandbox}/almaws/v1/conf/jobs/M48402",
        params={"op": "run"},
        content=body.encode(),
        headers={"Authorization": "apikey sandbox-key", "Content-Type": "application/xml"},
    )
    assert answer.status_code == 200 and answer.text.lstrip().startswith("<?xml"), answer.text
    name = "S04_run_job_response.xml"
    assert_same_shape(
        name, xml_shape(fromstring(sample(name).encode())), xml_shape(fromstring(answer.text.encode()))
    )
    assert run_answer_instance_id(from_xml(answer.text)).isdigit()


@integration
def test_sandbox_job_details_and_list(sandbox: str) -> None:
    details = httpx.get(f"{sandbox}/almaws/v1/conf/jobs/M48401", headers=JSON_ACCEPT).json()
    name = "S05_job_details.json"
    assert_same_shape(name, json_shape(sample_json(name)), json_shape(details))
    listing = httpx.get(f"{sandbox}/almaws/v1/conf/jobs", params={"limit": 2}, headers=JSON_ACCEPT).json()
    name = "S06_jobs_list_excerpt.json"
    assert_same_shape(name, json_shape(sample_json(name)), json_shape(listing))


@integration
def test_sandbox_set_answer(sandbox: str) -> None:
    made = httpx.post(
        f"{sandbox}/almaws/v1/conf/sets",
        json={
            "name": "recorded shape set",
            "description": "d",
            "type": {"value": "ITEMIZED"},
            "content": {"value": "IEP"},
        },
        headers=JSON_ACCEPT,
    ).json()
    members = {"members": {"member": [{"id": seed.SEED_88}, {"id": seed.SEED_99}]}}
    got = httpx.post(
        f"{sandbox}/almaws/v1/conf/sets/{made['id']}",
        params={"op": "add_members"},
        json=members,
        headers=JSON_ACCEPT,
    ).json()
    name = "S07_set_after_add_members.json"
    assert_same_shape(name, json_shape(sample_json(name)), json_shape(got))
    assert got["number_of_members"]["value"] == 2
    assert datetime.fromisoformat(got["created_date"]).tzinfo is not None
    assert got["created_by"] == {"value": "exl_api", "desc": "Ex Libris, API"}


@integration
def test_sandbox_json_errors(sandbox: str) -> None:
    configure(sandbox, burst_429=1)
    limited = httpx.get(f"{sandbox}/almaws/v1/conf/jobs/M48401", headers=JSON_ACCEPT)
    assert limited.status_code == 429
    name = "S08_error_per_second_threshold.json"
    assert_same_shape(name, json_shape(sample_json(name)), json_shape(limited.json()))
    unknown = httpx.get(f"{sandbox}/almaws/v1/no/such/path", headers=JSON_ACCEPT)
    assert unknown.status_code == 404
    name = "S10_error_gateway_wrapped.json"
    assert_same_shape(name, json_shape(sample_json(name)), json_shape(unknown.json()))
    assert isinstance(error_from_response(unknown), AlmaNotFound)
    bad_id = httpx.get(f"{sandbox}/almaws/v1/conf/jobs/M1", headers=JSON_ACCEPT)
    name = "S12_error_401861.json"
    assert_same_shape(name, json_shape(sample_json(name)), json_shape(bad_id.json()))


@integration
def test_sandbox_xml_errors(sandbox: str) -> None:
    bad_key = httpx.get(f"{sandbox}/almaws/v1/conf/jobs", headers={"Authorization": "apikey nope"})
    assert bad_key.status_code == 400  # as recorded with S09
    name = "S09_error_unauthorized.xml"
    assert_same_shape(
        name, xml_shape(fromstring(sample(name).encode())), xml_shape(fromstring(bad_key.content))
    )
    not_numeric = httpx.get(f"{sandbox}/almaws/v1/bibs", headers={"Authorization": "apikey sandbox-key"})
    assert not_numeric.status_code == 400 and "<errorCode>402204</errorCode>" in not_numeric.text
    got = xml_shape(fromstring(not_numeric.content))
    for name in ("S11_error_xml_empty_ns.xml", "S13_error_xml_no_code.xml"):
        assert_same_shape(name, xml_shape(fromstring(sample(name).strip().encode())), got)
