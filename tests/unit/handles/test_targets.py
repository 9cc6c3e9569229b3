"""Target comparison: MMS id and view decide; scheme, host case and URL form do not."""

from __future__ import annotations

import pytest

from config.settings import load_settings
from handles.targets import expected_target, matches_expected, parse_target, target_matches

VIEW = "01GCL_INST:GCL"
MMS = "991234567804641"
PATH = f"https://grinnell.primo.exlibrisgroup.com/discovery/fulldisplay/alma{MMS}/{VIEW}"


@pytest.mark.parametrize(
    "url",
    [
        PATH,
        PATH.replace("https://", "http://"),
        PATH.replace("grinnell.primo", "GRINNELL.Primo"),
        PATH.replace(":GCL", "%3AGCL"),
        PATH + "/",
        f"https://grinnell.primo.exlibrisgroup.com/discovery/fulldisplay?docid=alma{MMS}&context=L&vid={VIEW}",
        f"https://grinnell.primo.exlibrisgroup.com/discovery/fulldisplay?vid=01GCL_INST%3AGCL&docid=alma{MMS}",
        f"https://grinnell.primo.exlibrisgroup.com/primo-explore/fulldisplay?docid=alma{MMS}&vid={VIEW}&lang=en",
        f"https://grinnell.primo.exlibrisgroup.com:443/discovery/fulldisplay/alma{MMS}/{VIEW}?lang=en",
    ],
)
def test_same_record_in_any_form_matches(url: str) -> None:
    assert matches_expected(url, PATH)


@pytest.mark.parametrize(
    "url",
    [
        PATH.replace(MMS, "991234567804642"),  # another record
        PATH.replace(VIEW, "01GCL_INST:OTHER"),  # another view
        PATH.replace("grinnell.primo", "evil.primo"),  # another host
        f"https://grinnell.primo.exlibrisgroup.com/discovery/fulldisplay?docid=alma{MMS}9&vid={VIEW}",
        "https://grinnell.edu/islandora/object/grinnell:99",  # the old repository
        "ftp://grinnell.primo.exlibrisgroup.com/x",
        "not a url",
        "",
        None,
    ],
)
def test_other_targets_do_not_match(url: str | None) -> None:
    assert not matches_expected(url, PATH)


def test_parse_target_reads_both_forms() -> None:
    ref = parse_target(f"http://Host.Example/discovery/fulldisplay?docid=alma{MMS}&vid={VIEW}")
    assert (ref.host, ref.mms_id, ref.view) == ("host.example", MMS, VIEW)
    assert parse_target(PATH).mms_id == MMS


def test_view_is_compared_only_where_present() -> None:
    assert target_matches(f"https://x.example/discovery/fulldisplay?docid=alma{MMS}", mms_id=MMS, view=VIEW)
    assert not target_matches(
        f"https://x.example/discovery/fulldisplay?docid=alma{MMS}&vid=Z", mms_id=MMS, view=VIEW
    )


def test_expected_target_uses_the_template() -> None:
    settings = load_settings(handle_target_template="https://p.example/discovery/fulldisplay/alma{mms_id}/V")
    assert expected_target(settings, "99") == "https://p.example/discovery/fulldisplay/alma99/V"
