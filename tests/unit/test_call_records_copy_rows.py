"""Detail-file lines into COPY rows: the fast path and the line-by-line path agree, and a
bad line is named wherever it falls."""

from __future__ import annotations

import pytest

from contracts.records import RecordKind
from integrations.call_records.copy_rows import CopyRows
from integrations.call_records.format import MalformedRecordError

MONTH = "202609"
LINE = "08000000001,2026/09/30 23:59:59,09012345678,65,発信,国内通話,22\r\n"
ROW = "202609\t08000000001\t2026-09-30 23:59:59+09\t09012345678\t65\toutgoing\t国内通話\t22\n"


def _rows(text: str, first_line: int = 2) -> tuple[str, int]:
    return CopyRows(RecordKind.TALK, "f.csv", MONTH).rows(text.encode("cp932"), first_line)


def test_well_formed_lines_become_copy_rows() -> None:
    assert _rows(LINE * 3) == (ROW * 3, 3)


def test_lines_outside_the_fast_path_give_the_same_rows() -> None:
    quoted = '"08000000001","2026/09/30 23:59:59",09012345678, 65 ,発信,"国内通話",0022\n'

    assert _rows(LINE + quoted) == (ROW * 2, 2)


def test_text_is_escaped_for_copy() -> None:
    line = '08000000001,2026/09/30 23:59:59,09012345678,65,発信,"a\\b\tc",22\r\n'

    rows, _ = _rows(line)

    assert rows.split("\t")[6] == "a\\\\b\\tc"


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ("08000000001,2026/09/31 10:00:00,09012345678,65,発信,国内通話,22", "通話開始日時"),
        ("08000000001,2026/10/01 00:00:00,09012345678,65,発信,国内通話,22", "outside 202609"),
        ("08000000001,2026/09/30 10:00:00,09012345678,2147483648,発信,国内,22", "larger than"),
        ("08000000001,2026/09/30 10:00:00,09012345678,+65,発信,国内通話,22", "whole number"),
        ("08000000001,2026/09/30 10:00:00,09012345678,65,発信,国内通話", "6 fields"),
        ('08000000001,2026/09/30 10:00:00,09012345678,65,発信,"国内,22', "CSV"),
        ("", "0 fields"),
    ],
)
def test_bad_line_is_named(bad: str, reason: str) -> None:
    with pytest.raises(MalformedRecordError, match=rf"^f\.csv line 12: .*{reason}"):
        _rows(LINE * 2 + bad + "\r\n" + LINE, first_line=10)


def test_invalid_cp932_is_named_by_line() -> None:
    lines = (LINE * 4).encode("cp932").replace(b"\x94\xad", b"\x81\xff", 1)  # 発 -> invalid
    lines = LINE.encode("cp932") + lines

    with pytest.raises(MalformedRecordError, match=r"f\.csv line 8: not valid cp932"):
        CopyRows(RecordKind.TALK, "f.csv", MONTH).rows(lines, 7)
