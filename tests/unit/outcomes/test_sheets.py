"""outcomes.sheets: the spreadsheets operators keep, read as they are, or refused in one line."""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import Workbook

from cli import common
from cli import verify as cli_verify
from outcomes import sheets

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "library-export.csv"
COLUMNS = (sheets.HANDLE, sheets.MMS_ID)


def write(tmp_path: Path, data: bytes, name: str = "in.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def rows(table: sheets.Table) -> list[tuple[str | None, str | None]]:
    return [(table.cell(r, "Handle"), table.cell(r, "MMS ID")) for _, r in table.rows]


def test_the_librarys_own_export_is_read_as_is() -> None:
    table = sheets.read_table(FIXTURE, COLUMNS)
    assert table.kind == "csv" and table.delimiter == ","
    assert table.header[:2] == ["MMS ID", "Handle URL"]
    got = rows(table)
    assert len(got) == 20
    assert got[1] == ("http://hdl.handle.net/11084/1742400040", "991010015074304641")


def test_verify_reads_the_librarys_export_with_mms_ids() -> None:
    source = cli_verify.read_file(FIXTURE, prefix="11084")
    assert len(source.items) == 20 and source.problems == [] and source.notes == []
    assert source.items[1].handle == "11084/1742400040"
    assert source.items[1].mms_id == "991010015074304641"


@pytest.mark.parametrize(
    "header",
    ["MMS ID,Handle URL", "mms_id,handle_url", "MMSID,dc:identifier", "Mms Id;URI", "mms-id|Handle"],
)
def test_header_spellings_and_delimiters(tmp_path: Path, header: str) -> None:
    delimiter = next((d for d in ",;|" if d in header), ",")
    data = f"{header}\n991{delimiter}11084/1\n".encode()
    table = sheets.read_table(write(tmp_path, data), COLUMNS)
    assert table.delimiter == delimiter
    assert rows(table) == [("11084/1", "991")]


def test_tab_delimited_and_title_rows(tmp_path: Path) -> None:
    data = b"Validation run 2026-02-02\n\nHandle URL\tMMS ID\n11084/1\t991\n"
    table = sheets.read_table(write(tmp_path, data), COLUMNS)
    assert table.header_line == 3 and table.delimiter == "\t"
    assert rows(table) == [("11084/1", "991")]


def test_delimiter_comes_from_the_header_not_the_data(tmp_path: Path) -> None:
    # data rows full of semicolons do not change a comma header's delimiter
    data = b"Handle,Note\n11084/1,a;b;c;d\n"
    table = sheets.read_table(write(tmp_path, data), COLUMNS)
    assert table.delimiter == "," and [r for _, r in table.rows] == [["11084/1", "a;b;c;d"]]


@pytest.mark.parametrize(
    ("encoding", "bom"),
    [("utf-8", b""), ("utf-8", b"\xef\xbb\xbf"), ("utf-16-le", b"\xff\xfe"), ("utf-16-be", b"\xfe\xff")],
)
def test_text_as_excel_writes_it(tmp_path: Path, encoding: str, bom: bytes) -> None:
    text = "MMS ID\tHandle URL\tdc:title\r\n991\thttp://hdl.handle.net/11084/1\tÉté à Grinnell\r\n"
    path = write(tmp_path, bom + text.encode(encoding))
    table = sheets.read_table(path, COLUMNS)
    assert rows(table) == [("http://hdl.handle.net/11084/1", "991")]
    assert [r[2] for _, r in table.rows] == []  # consumed above; re-read for the title
    assert [r[2] for _, r in sheets.read_table(path, COLUMNS).rows] == ["Été à Grinnell"]


def test_windows_1252_when_not_utf8(tmp_path: Path) -> None:
    path = write(tmp_path, "Handle,dc:title\n11084/1,Café “quoted”\n".encode("cp1252"))
    assert sheets.text_encoding(path) == "cp1252"
    table = sheets.read_table(path, COLUMNS)
    assert [r[1] for _, r in table.rows] == ["Café “quoted”"]


def test_not_utf8_nor_windows_1252_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, b"Handle\n11084/1\x81\x8d\n\xc3")
    with pytest.raises(sheets.SheetError, match="neither UTF-8, UTF-16 nor Windows-1252"):
        sheets.read_table(path, COLUMNS)


def test_no_usable_column_names_found_and_wanted(tmp_path: Path) -> None:
    path = write(tmp_path, b"Title;Date;Notes\nA;2026;x\n")
    with pytest.raises(sheets.SheetError) as info:
        sheets.read_table(path, COLUMNS)
    message = str(info.value)
    assert message.startswith("line 1: no 'handle' column: found Title, Date, Notes; wanted 'Handle'")
    assert "Handle URL" in message and "MMS ID" in message and "\n" not in message


def test_verify_refuses_it_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(common.CliError) as info:
        cli_verify.read_file(write(tmp_path, b"Title;Date\nA;2026\n"), prefix="11084")
    assert "found Title, Date" in str(info.value) and info.value.code == 2


def test_xlsx_with_number_cells(tmp_path: Path) -> None:
    wb = Workbook()
    sheet = wb.active
    sheet.append(["Library export"])
    sheet.append(["MMS ID", "Handle URL", "Titles Match!"])
    sheet.append(["991011507293904641", "http://hdl.handle.net/11084/99", True])
    sheet.append([9910115, "http://hdl.handle.net/11084/98", 1.0])
    # an MMS id that Excel turned into a number has lost its last digits: never guessed back
    sheet.append([991011507293904641, "http://hdl.handle.net/11084/97", None])
    path = tmp_path / "export.xlsx"
    wb.save(path)
    table = sheets.read_table(path, COLUMNS)
    assert table.kind == "xlsx" and table.header_line == 2
    got = [r for _, r in table.rows]
    assert got[:2] == [
        ["991011507293904641", "http://hdl.handle.net/11084/99", "TRUE"],
        ["9910115", "http://hdl.handle.net/11084/98", "1"],
    ]
    source = cli_verify.read_file(path, prefix="11084")
    assert [(i.handle, i.mms_id) for i in source.items] == [
        ("11084/99", "991011507293904641"),
        ("11084/98", "9910115"),
    ]
    assert len(source.problems) == 1 and source.problems[0].startswith("line 5: ")


def test_a_zip_that_is_not_a_workbook(tmp_path: Path) -> None:
    import zipfile

    path = tmp_path / "a.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("readme.txt", "hello")
    with pytest.raises(sheets.SheetError, match="not an XLSX workbook"):
        sheets.read_table(path, COLUMNS)


def test_bounds_line_and_cell(tmp_path: Path) -> None:
    long_line = b"Handle\n" + b"1" * (sheets.MAX_LINE_CHARS + 10) + b"\n"
    with pytest.raises(sheets.SheetError, match=r"^line 2: line longer than"):
        list(sheets.read_table(write(tmp_path, long_line), COLUMNS).rows)
    long_cell = b'Handle\n"' + b"x\n" * 20_000 + b'"\n'
    with pytest.raises(sheets.SheetError, match="cell longer than 32,767"):
        list(sheets.read_table(write(tmp_path, long_cell), COLUMNS).rows)


def test_directory_and_empty(tmp_path: Path) -> None:
    with pytest.raises(sheets.SheetError, match="is a directory"):
        sheets.read_table(tmp_path, COLUMNS)
    with pytest.raises(sheets.SheetError, match="empty"):
        sheets.read_table(write(tmp_path, b"\xef\xbb\xbf\r\n"), COLUMNS)


def test_verify_one_column_header_or_a_plain_list(tmp_path: Path) -> None:
    table = cli_verify.read_file(
        write(tmp_path, b"Handle URL\r\nhttp://hdl.handle.net/11084/7\r\n"), prefix="11084"
    )
    assert [i.handle for i in table.items] == ["11084/7"] and table.problems == []
    plain = cli_verify.read_file(write(tmp_path, b"not a handle\n11084/8\n"), prefix="11084")
    assert [i.handle for i in plain.items] == ["11084/8"] and plain.problems[0].startswith("line 1:")
