"""Suffix rules: opaque (seed 003) and PID-datastream (seed 002)."""

from __future__ import annotations

import re

import pytest

from config.settings import load_settings
from handles.naming import (
    DATASTREAMS,
    NamingError,
    datastream_number,
    new_handle,
    pid_datastream_suffix,
)

LLGC = r"^[A-Za-z][\w.-]*:(?P<suffix>\d+)$"


@pytest.mark.parametrize(
    ("dsid", "suffix"),
    [
        (None, "21"),
        ("METS", "21-0"),
        ("DC", "21-1"),
        ("rels-ext", "21-2"),
        ("ARCHIVE", "21-10"),
        ("REFERENCE", "21-11"),
        ("12", "21-12"),
        (22, "21-22"),
    ],
)
def test_seed_002_examples_for_llgc_id_21(dsid, suffix):
    assert pid_datastream_suffix("llgc-id:21", dsid, pattern=LLGC) == suffix


def test_article_datastream_carries_its_number():
    assert pid_datastream_suffix("llgc-id:12345", "ARTICLE", pattern=LLGC, article=1) == "12345-20-1"
    with pytest.raises(NamingError):
        pid_datastream_suffix("llgc-id:12345", "ARTICLE", pattern=LLGC)
    with pytest.raises(NamingError):
        pid_datastream_suffix("llgc-id:12345", "DC", pattern=LLGC, article=2)


def test_unknown_datastreams_and_pids_are_refused():
    with pytest.raises(NamingError):
        datastream_number("NOPE")
    with pytest.raises(NamingError):
        datastream_number(7)  # 7-9 are not used by the seed's table
    with pytest.raises(NamingError):
        pid_datastream_suffix("not a pid", None, pattern=LLGC)


def test_table_numbers_match_the_seed():
    assert sorted(DATASTREAMS) == [0, 1, 2, 3, 4, 5, 6, *range(10, 23)]


def test_new_handle_by_settings(monkeypatch):
    monkeypatch.setenv("HANDLE_PREFIX", "10107")
    monkeypatch.setenv("HANDLE_SUFFIX_RULE", "pid-datastream")
    assert new_handle(load_settings(), pid="llgc-id:21", dsid="DC") == "10107/21-1"
    with pytest.raises(NamingError):
        new_handle(load_settings())
    monkeypatch.setenv("HANDLE_SUFFIX_RULE", "opaque")
    first, second = new_handle(load_settings()), new_handle(load_settings(), pid="llgc-id:21")
    assert first != second
    for handle in (first, second):
        prefix, suffix = handle.split("/")
        assert prefix == "10107"
        assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}", suffix)
    with pytest.raises(NamingError):
        new_handle(load_settings(), dsid="DC")
