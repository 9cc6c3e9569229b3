"""The sandbox's Handle server answers as HANDLE.NET 9 does (handle-system.md §1.3-1.4, §2)."""

from __future__ import annotations

import httpx
import pytest

from handles.server import HandleAuthError, HandleServerClient
from tests.unit.handles.conftest import SECRET
from tests.unit.handles.test_server_sandbox import client_for

API = "/handle-server/api/handles"
AUTH = ("300%3A0.NA/11084", SECRET)
URL_VALUE = {"index": 1, "type": "URL", "data": {"format": "string", "value": "https://t.example/1"}}


def test_answers_echo_the_handle_as_it_was_asked(http, registry):
    assert http.put(f"{API}/11084/AbC", auth=AUTH, json=[URL_VALUE]).json()["handle"] == "11084/AbC"
    got = http.get(f"{API}/11084/abc")
    assert got.status_code == 200 and got.json()["handle"] == "11084/abc"
    assert client_for(http).get("11084/ABC").handle == "11084/ABC"
    put = http.put(f"{API}/11084/aBc?index=1", auth=AUTH, json=[URL_VALUE])
    assert put.json() == {"responseCode": 1, "handle": "11084/aBc"}
    assert http.delete(f"{API}/11084/ABc", auth=AUTH).json()["handle"] == "11084/ABc"
    missing = http.get(f"{API}/11084/ABc")
    assert missing.status_code == 404 and missing.json()["handle"] == "11084/ABc"


def test_wrong_credentials_are_a_bare_401_on_reads_too(http, registry):
    http.put(f"{API}/11084/r", auth=AUTH, json=[URL_VALUE])
    r = http.get(f"{API}/11084/r", auth=("300%3A0.NA/11084", "wrong"))
    assert r.status_code == 401 and r.content == b""
    assert len(r.headers.get_list("www-authenticate")) == 2
    assert http.get(f"{API}/11084/r").status_code == 200  # anonymous reads are fine


def test_hdl_in_the_path_is_a_400_prefix_error_not_a_lookup(http, registry):
    http.put(f"{API}/11084/99", auth=AUTH, json=[URL_VALUE])
    r = http.get(f"{API}/hdl:11084/99")
    assert r.status_code == 400
    assert r.json() == {
        "responseCode": 301,
        "handle": "hdl:11084/99",
        "message": "That prefix doesn't live here",
    }
    assert http.put(f"{API}/hdl:11084/99", auth=AUTH, json=[URL_VALUE]).json()["responseCode"] == 301
    empty = http.get(f"{API}/")
    assert empty.status_code == 400 and empty.json()["responseCode"] == 102


def test_mismatched_indexes_are_rc_4_and_so_is_a_bad_index(http, registry):
    http.put(f"{API}/11084/m", auth=AUTH, json=[URL_VALUE])
    r = http.put(f"{API}/11084/m?index=2", auth=AUTH, json=[URL_VALUE])
    assert r.status_code == 400 and r.json()["responseCode"] == 4
    assert "Mismatched indexes" in r.json()["message"]
    bad = http.get(f"{API}/11084/m?index=one")
    assert bad.status_code == 400 and bad.json()["responseCode"] == 4
    typed = http.put(f"{API}/11084/m", auth=AUTH, content=b"[]", headers={"content-type": "text/json"})
    assert typed.status_code == 400 and typed.json()["responseCode"] == 4
    assert registry.get("11084/m").url() == "https://t.example/1"


def test_post_is_a_lookup_never_a_create(http, registry):
    r = http.post(f"{API}/11084/p", auth=AUTH, json={"values": [URL_VALUE]})
    assert r.status_code == 404 and r.json()["responseCode"] == 100
    assert registry.get_any("11084/p") is None
    http.put(f"{API}/11084/p", auth=AUTH, json=[URL_VALUE])
    found = http.post(f"{API}/11084/p", json={"type": "URL"})
    assert found.status_code == 200 and [v["index"] for v in found.json()["values"]] == [1]


def test_overwrite_is_true_only_when_it_says_true(http, registry):
    assert http.put(f"{API}/11084/o", auth=AUTH, json=[URL_VALUE]).status_code == 201
    again = http.put(f"{API}/11084/o?overwrite=yes", auth=AUTH, json=[URL_VALUE])
    assert again.status_code == 409 and again.json()["responseCode"] == 101
    assert http.put(f"{API}/11084/o?overwrite=TRUE", auth=AUTH, json=[URL_VALUE]).status_code == 200


def test_adding_values_is_201_replacing_200_and_overwrite_false_refuses(http, registry):
    http.put(f"{API}/11084/v", auth=AUTH, json=[URL_VALUE])
    extra = {"index": 2, "type": "EMAIL", "data": "a@b.example"}
    assert http.put(f"{API}/11084/v?index=2", auth=AUTH, json=[extra]).status_code == 201
    assert http.put(f"{API}/11084/v?index=2", auth=AUTH, json=[extra]).status_code == 200
    refused = http.put(f"{API}/11084/v?index=1&overwrite=false", auth=AUTH, json=[URL_VALUE])
    assert refused.status_code == 409 and refused.json()["responseCode"] == 201
    assert [v["index"] for v in registry.get("11084/v").values] == [1, 2, 100]


def test_listing_needs_authentication_and_pages(http, registry):
    for suffix in ("e", "a", "D", "c", "b"):
        http.put(f"{API}/11084/{suffix}", auth=AUTH, json=[URL_VALUE])
    anonymous = http.get(f"{API}?prefix=11084")
    assert anonymous.status_code == 401 and anonymous.json()["responseCode"] == 402
    assert anonymous.headers.get_list("www-authenticate")[0] == 'Basic realm="handle"'
    everything = http.get(f"{API}?prefix=11084", auth=AUTH).json()
    assert everything == {
        "responseCode": 1,
        "prefix": "11084",
        "totalCount": "5",
        "handles": ["11084/A", "11084/B", "11084/C", "11084/D", "11084/E"],
    }
    page = http.get(f"{API}?prefix=11084&page=1&pageSize=2", auth=AUTH).json()
    assert (page["handles"], page["page"], page["pageSize"]) == (["11084/C", "11084/D"], 1, 2)
    assert page["totalCount"] == "5"
    count = http.get(f"{API}?prefix=0.NA/11084&page=0&pageSize=0", auth=AUTH).json()
    assert (count["totalCount"], count["handles"], count["prefix"]) == ("5", [], "0.NA/11084")
    assert http.get(API, auth=AUTH).json()["responseCode"] == 102
    assert http.get(f"{API}?prefix=99999", auth=AUTH).json()["responseCode"] == 301


def test_anonymous_reads_see_public_values_only(http, registry):
    secret_value = {"index": 300, "type": "HS_SECKEY", "data": "s3cret", "permissions": "1100"}
    http.put(f"{API}/11084/k", auth=AUTH, json=[URL_VALUE, secret_value])
    public = http.get(f"{API}/11084/k").json()
    assert sorted(v["index"] for v in public["values"]) == [1, 100]
    admin = http.get(f"{API}/11084/k", auth=AUTH).json()
    assert sorted(v["index"] for v in admin["values"]) == [1, 100, 300]
    none_left = http.get(f"{API}/11084/k?index=300")
    assert none_left.status_code == 200 and none_left.json()["responseCode"] == 200
    assert none_left.json()["values"] == []


def test_the_prefix_handle_answers_for_identity_checks(http):
    r = http.get(f"{API}/0.NA/11084")
    assert r.status_code == 200 and r.json()["handle"] == "0.NA/11084"
    assert {v["type"] for v in r.json()["values"]} == {"HS_ADMIN", "HS_VLIST"}


def test_checks_come_in_the_servers_order(http, registry):
    foreign = http.put(f"{API}/99999/x", json=[URL_VALUE])  # anonymous, but the prefix is wrong first
    assert foreign.status_code == 400 and foreign.json()["responseCode"] == 301
    zero = http.put(f"{API}/11084/x", json=[{**URL_VALUE, "index": 0}])
    assert zero.status_code == 400 and zero.json()["responseCode"] == 202
    assert http.put(f"{API}/11084/x", json=[URL_VALUE]).status_code == 401


def test_client_reads_a_record_with_no_public_values():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"responseCode": 200, "handle": "11084/z", "values": []})

    client = HandleServerClient(
        "https://hs.example", auth_id="300:0.NA/11084", secret=SECRET, transport=httpx.MockTransport(handler)
    )
    record = client.get("11084/z")
    assert (record.handle, record.values, record.url) == ("11084/z", [], None)


def test_client_explains_a_403_over_plain_http():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(403, json={"responseCode": 402, "handle": "11084/z"})

    client = HandleServerClient(
        "http://127.0.0.1:9/hs",
        auth_id="300:0.NA/11084",
        secret=SECRET,
        transport=httpx.MockTransport(handler),
    )
    with pytest.raises(HandleAuthError) as info:
        client.create("11084/z", "https://t.example/z")
    assert "ignores credentials: use https" in str(info.value) and SECRET not in str(info.value)
