from __future__ import annotations

from datetime import UTC, datetime

import pytest

from contracts.records import RecordKind, file_name, months_back, normalize_month
from integrations.call_records.format import MalformedRecordError, RecordParser, header


def test_file_names_and_months() -> None:
    assert file_name(RecordKind.SMS, "202609") == "PASI_sms-detail-202609.csv"
    assert normalize_month("2026-09") == "202609"
    with pytest.raises(ValueError, match="not a month"):
        normalize_month("2026-13")
    # 2026-01-31 20:00 UTC is already February in Japan.
    assert months_back(datetime(2026, 1, 31, 20, tzinfo=UTC), 2) == "202512"


def test_parser_checks_header_and_fields() -> None:
    parser = RecordParser(RecordKind.SMS, "f.csv", "202609")
    parser.check_header(1, header(RecordKind.SMS))
    row = parser.parse(2, ["08000000001", "2026/09/30 23:59:59", "+8190", "受信", "国際SMS", "3"])
    assert row[3] == "incoming"
    with pytest.raises(MalformedRecordError, match=r"f\.csv line 3: .*outside 202609"):
        parser.parse(3, ["08000000001", "2026/10/01 00:00:00", "0901", "受信", "国内SMS", "3"])
