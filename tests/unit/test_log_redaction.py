import io
import json
import logging

import structlog

from integrations.logging import REDACTED


def lines(buffer: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_secret_keys_are_blanked(json_log: io.StringIO) -> None:
    structlog.get_logger("test").info("login", secret="hunter2", access_token="00D!abc", user="u")
    [line] = lines(json_log)
    assert (line["secret"], line["access_token"], line["user"]) == (REDACTED, REDACTED, "u")


def test_secrets_inside_text_are_blanked(json_log: io.StringIO) -> None:
    logging.getLogger("httpx").warning("POST body identifier=abc&secret=hunter2&action=GetClients")
    key = "-----BEGIN PRIVATE KEY-----\nMIIEv\n-----END PRIVATE KEY-----"
    structlog.get_logger("test").error("bad key", detail=f"could not load {key}")
    text = json_log.getvalue()
    assert "hunter2" not in text
    assert "MIIEv" not in text
    assert "action=GetClients" in text


def test_standard_library_records_share_the_pipeline(json_log: io.StringIO) -> None:
    logging.getLogger("temporalio.workflow").info("validation", extra={"order_id": "801x"})
    [line] = lines(json_log)
    assert (line["event"], line["order_id"], line["level"]) == ("validation", "801x", "info")
