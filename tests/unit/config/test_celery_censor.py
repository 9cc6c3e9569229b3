"""Issue 13 item 8: what `celery inspect conf` and Flower's worker page show holds no Redis password."""

from __future__ import annotations

import json
from types import SimpleNamespace

from celery import Celery

from config.celery import broker_reachable, celery_config
from config.settings import load_settings


def test_inspect_conf_shows_no_password(monkeypatch) -> None:
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://:brokerpw1@127.0.0.1:6379/11")
    monkeypatch.setenv("REDIS_URL", "redis://beatuser:redbeatpw2@127.0.0.1:6379/11")
    conf = celery_config(load_settings())
    app = Celery("censor-test", set_as_current=False)
    app.conf.update(conf)
    # what the worker answers to `celery inspect conf` (and what Flower's config tab shows)
    shown = json.dumps(app.conf.table(with_defaults=False, censored=True), default=str)
    assert "brokerpw1" not in shown and "redbeatpw2" not in shown
    assert "redbeat_redis_url" in shown  # the setting is there, without its password
    assert app.conf.humanize(with_defaults=True).count("redbeatpw2") == 0
    # the worker's own reply to `celery inspect conf`, which Flower's config tab renders
    from celery.worker import control

    reply = json.dumps(control.conf(SimpleNamespace(app=app), with_defaults=True), default=str)
    assert "redbeat_redis_url" in reply and "redbeatpw2" not in reply and "brokerpw1" not in reply
    # and RedBeat still gets the password it needs
    assert conf["redbeat_redis_url"] == "redis://beatuser@127.0.0.1:6379/11"
    assert conf["redbeat_redis_options"] == {"password": "redbeatpw2"}


def test_redbeat_connects_with_the_password_from_its_options(monkeypatch) -> None:
    from redbeat.schedulers import get_redis

    monkeypatch.setenv("CELERY_BROKER_URL", "redis://127.0.0.1:6379/11")
    monkeypatch.setenv("REDIS_URL", "redis://:pw-in-options@127.0.0.1:6379/11")
    app = Celery("redbeat-test", set_as_current=False)
    app.conf.update(celery_config(load_settings()))
    client = get_redis(app)
    assert client.connection_pool.connection_kwargs["password"] == "pw-in-options"


def test_broker_reachable() -> None:
    assert broker_reachable("sqla+sqlite:///var/broker.sqlite")
    assert not broker_reachable("redis://127.0.0.1:1/0", timeout=0.5)
    assert not broker_reachable("redis://[x/0", timeout=0.5)
