"""HANDLE_SERVER_URL over plain http: refused unless it is the sandbox on loopback or allowed."""

from __future__ import annotations

import pytest

from config.checks import is_loopback_url
from config.settings import SettingsError, load_settings


@pytest.mark.parametrize(
    "url",
    ["http://hs.example.edu:8000", "http://10.0.0.5:8000/", "http://sandbox:8780/x"],
)
def test_plain_http_to_another_host_is_refused_with_one_line(monkeypatch, url):
    monkeypatch.delenv("HANDLE_SERVER_ALLOW_HTTP", raising=False)
    with pytest.raises(SettingsError) as info:
        load_settings(handle_server_url=url, handle_server_secret="s3cret")
    message = str(info.value)
    assert message.startswith("HANDLE_SERVER_URL: ") and "https://" in message
    assert "\n" not in message and len(message) <= 80 and "s3cret" not in message


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8780/handle-server",
        "http://127.8.9.10:1",
        "http://localhost:8000",
        "http://[::1]:8000/hs",
        "https://hs.example.edu:8000",
    ],
)
def test_loopback_and_https_are_accepted(url):
    assert load_settings(handle_server_url=url, handle_server_secret="x").handle_server_url == url.rstrip("/")


def test_the_opt_out_allows_compose_sandbox_over_http(monkeypatch):
    monkeypatch.setenv("HANDLE_SERVER_URL", "http://sandbox:8780/handle-server")
    monkeypatch.setenv("HANDLE_SERVER_ALLOW_HTTP", "true")
    monkeypatch.setenv("HANDLE_SERVER_SECRET", "x")
    assert load_settings().handle_server_url == "http://sandbox:8780/handle-server"
    monkeypatch.setenv("HANDLE_SERVER_ALLOW_HTTP", "false")
    with pytest.raises(SettingsError, match="^HANDLE_SERVER_URL: "):
        load_settings()


def test_loopback_means_this_machine_only():
    assert is_loopback_url("http://127.0.0.1:1") and is_loopback_url("http://[::1]/")
    assert not is_loopback_url("http://128.0.0.1/") and not is_loopback_url("http://localhost.example/")
    assert not is_loopback_url("http://[::2]/") and not is_loopback_url("not a url")
