"""The web page serves the report as XLSX with the same writer as `handles report --format xlsx`."""

from __future__ import annotations

import io

from openpyxl import load_workbook
from starlette.testclient import TestClient

from outcomes.report_xlsx import SUMMARY
from tests.unit.web.test_routes import AUTH, built, client  # noqa: F401 - fixtures
from tests.web_data import MMS


def test_xlsx_download_keeps_mms_ids_as_text(client: TestClient) -> None:  # noqa: F811
    answer = client.get("/runs/1/records.xlsx?outcome=failed", auth=AUTH)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert 'filename="run-1-records.xlsx"' in answer.headers["content-disposition"]
    book = load_workbook(io.BytesIO(answer.content))
    assert book.sheetnames[0] == SUMMARY and "Failed" in book.sheetnames
    rows = list(book["Failed"].iter_rows(min_row=3, values_only=False))
    assert [r[0].value for r in rows] == MMS[3:5]
    assert all(r[0].data_type == "s" and r[0].number_format == "@" for r in rows)
    assert "run 1" in book[SUMMARY]["A1"].value
