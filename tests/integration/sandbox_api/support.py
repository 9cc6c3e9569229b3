"""What the sandbox-over-HTTP tests share: Alma's error shape, running a job and waiting for it."""

from __future__ import annotations

import time

import httpx

from sandbox import seed

SET = seed.SEED_SET_ID
KEY = {"Authorization": "apikey sandbox-key", "Accept": "application/json"}


def assert_alma_error(response: httpx.Response, code: str, status: int = 400) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"errorsExist", "errorList", "result"}
    assert body["errorsExist"] is True and body["result"] is None
    (error,) = body["errorList"]["error"]
    assert set(error) == {"errorCode", "errorMessage", "trackingId"}
    assert error["errorCode"] == code and error["trackingId"].startswith("E01-")


def run(alma: httpx.Client, job_id: str, set_id: str = SET, name: str | None = None) -> httpx.Response:
    params = [{"name": {"value": "set_id"}, "value": set_id}]
    if name:
        params.append({"name": {"value": "job_name"}, "value": name})
    return alma.post(f"/conf/jobs/{job_id}", params={"op": "run"}, json={"parameter": params})


def instance_id(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    return response.json()["additional_info"]["link"].rsplit("/", 1)[1]


def wait(alma: httpx.Client, job_id: str, iid: str, timeout: float = 10) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = alma.get(f"/conf/jobs/{job_id}/instances/{iid}").json()
        if body["status"]["value"] not in ("QUEUED", "INITIALIZING", "RUNNING", "FINALIZING"):
            return body
        time.sleep(0.1)
    raise AssertionError("instance did not finish")


def run_and_wait(alma: httpx.Client, job_id: str, set_id: str = SET) -> tuple[str, dict]:
    iid = instance_id(run(alma, job_id, set_id))
    return iid, wait(alma, job_id, iid)


def events(alma: httpx.Client, job_id: str, iid: str) -> list[str]:
    body = alma.get(f"/conf/jobs/{job_id}/instances/{iid}/events", params={"limit": 100}).json()
    return [next(k["value"] for k in e["event_key"] if k["code"] == "description") for e in body["event"]]
