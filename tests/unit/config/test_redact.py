"""config.redact: URL user information, keys and secrets masked; hostile text made one safe line."""

from __future__ import annotations

from config.redact import mask_url, redact, remember_secrets, scrub
from config.settings import load_settings


def test_mask_url_hides_user_information_even_in_an_unreadable_url() -> None:
    assert mask_url("redis://:s3cret@h:6379/0") == "redis://***@h:6379/0"
    assert mask_url("https://user:p@ss@alma.example/x") == "https://***@alma.example/x"
    assert mask_url("http://[x") == "http://[x"
    assert mask_url(None) == ""


def test_scrub_masks_keys_removes_controls_and_caps_length() -> None:
    text = (
        "Authorization: apikey l7xxABCDEF and ?apikey=l7xxGHIJ&x=1 \x1b[31mred\x1b[0m\n"
        "next\u202eline password=hunter22 see https://u:pw@host/"
    )
    out = scrub(text)
    for secret in ("l7xxABCDEF", "l7xxGHIJ", "hunter22", "u:pw", "\x1b", "\n", "\u202e"):
        assert secret not in out
    assert "red" in out and "next" in out
    assert len(scrub("x" * 10_000, limit=50)) == 50


def test_configured_secrets_are_masked_wherever_they_show() -> None:
    load_settings(alma_api_base_url="https://alma.example", alma_api_key="l7xxCONFIGURED99")
    assert "l7xxCONFIGURED99" not in scrub("Alma said: your key l7xxCONFIGURED99 is wrong")
    assert "l7xxCONFIGURED99" not in redact("log line with l7xxCONFIGURED99 in it")
    remember_secrets(["another-secret-value"])
    assert scrub("x another-secret-value y") == "x *** y"
