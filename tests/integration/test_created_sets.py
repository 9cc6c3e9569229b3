"""Item 8 of issue 15: sets the product creates in Alma go when the run is done (ALMA_KEEP_SETS keeps them)."""

from __future__ import annotations

import logging
import uuid
from types import SimpleNamespace

import pytest

from alma.errors import AlmaNotFound
from config.settings import load_settings
from pipeline.finish import remove_created_sets
from tests.integration.test_alma_client import client_for, sandbox  # noqa: F401 - a fixture


def _made(client) -> str:  # type: ignore[no-untyped-def]
    created = client.create_itemized_set(f"handles run {uuid.uuid4().hex[:6]} profile set", content="BIB_MMS")
    return str(created["id"])


def test_the_run_removes_its_set_through_the_alma_api(sandbox) -> None:  # noqa: F811
    client = client_for(sandbox)
    set_id = _made(client)
    ctx = SimpleNamespace(alma=client, settings=load_settings())
    assert remove_created_sets(ctx, 7, [set_id]) == [set_id]  # type: ignore[arg-type]
    with pytest.raises(AlmaNotFound):
        client.get_set(set_id)


def test_keep_sets_keeps_them(sandbox) -> None:  # noqa: F811
    client = client_for(sandbox)
    set_id = _made(client)
    ctx = SimpleNamespace(alma=client, settings=load_settings(ALMA_KEEP_SETS="true"))
    assert remove_created_sets(ctx, 7, [set_id]) == []  # type: ignore[arg-type]
    assert client.get_set(set_id)["id"] == set_id


def test_a_set_that_cannot_be_removed_is_one_log_line(sandbox, caplog) -> None:  # noqa: F811
    client = client_for(sandbox)
    ctx = SimpleNamespace(alma=client, settings=load_settings())
    with caplog.at_level(logging.WARNING, logger="handles.pipeline"):
        assert remove_created_sets(ctx, 7, ["7610999999904641"]) == []  # type: ignore[arg-type]
    lines = [r for r in caplog.records if "could not remove its set 7610999999904641" in r.getMessage()]
    assert len(lines) == 1
