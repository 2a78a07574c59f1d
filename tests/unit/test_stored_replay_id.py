"""What may stand under the bridge's replay id key: the replay id of an event, a positive whole
number no larger than a Java long. Anything else is refused with what is wrong with it, so the
bridge can say so in one line and replay every retained event instead of crashing."""

from __future__ import annotations

import re

import pytest

from integrations.replay_store import LARGEST_REPLAY_ID, parse_replay_id


@pytest.mark.parametrize(
    ("stored", "replay_id"),
    [
        pytest.param(b"1", 1, id="smallest"),
        pytest.param(b"8301245", 8301245, id="typical"),
        pytest.param(str(LARGEST_REPLAY_ID).encode(), LARGEST_REPLAY_ID, id="largest-long"),
        pytest.param(b"0008301245", 8301245, id="leading-zeros"),
    ],
)
def test_an_event_replay_id_is_read_back(stored: bytes, replay_id: int) -> None:
    assert parse_replay_id(stored) == replay_id


@pytest.mark.parametrize(
    ("stored", "problem"),
    [
        pytest.param(b"", "is empty", id="empty"),
        pytest.param(b"abc", "is 'abc', not a whole number", id="word"),
        pytest.param(b" 8301245", "is ' 8301245', not a whole number", id="leading-space"),
        pytest.param(b"8301245\n", "is '8301245\\n', not a whole number", id="trailing-newline"),
        pytest.param(b"83.5", "is '83.5', not a whole number", id="decimal"),
        pytest.param(b"+83", "is '+83', not a whole number", id="plus-sign"),
        pytest.param(b"8_301", "is '8_301', not a whole number", id="underscore"),
        pytest.param(b"1e6", "is '1e6', not a whole number", id="exponent"),
        pytest.param(
            "\uff18\uff13".encode(), "is '\uff18\uff13', not a whole number", id="fullwidth-digits"
        ),
        pytest.param(b"-5", "is '-5', negative: replay ids of events are positive", id="negative"),
        pytest.param(
            b"-1",
            "is -1, the subscription option for new events only, not the replay id of an event"
            " (the bridge stores only those)",
            id="option-new-events",
        ),
        pytest.param(
            b"-2",
            "is -2, the subscription option for every retained event, not the replay id of an"
            " event (the bridge stores only those)",
            id="option-all-retained",
        ),
        pytest.param(b"0", "is 0, not the replay id of an event (they are positive)", id="zero"),
        pytest.param(
            str(LARGEST_REPLAY_ID + 1).encode(),
            f"is '{LARGEST_REPLAY_ID + 1}', larger than any replay id (the largest is"
            f" {LARGEST_REPLAY_ID})",
            id="beyond-a-long",
        ),
        pytest.param(
            b"9" * 100_000,
            f"is '{'9' * 40}'... (100000 characters), larger than any replay id (the largest is"
            f" {LARGEST_REPLAY_ID})",
            id="absurdly-long",
        ),
        pytest.param(
            b"\x80\x81\xfe\xff", r"is binary data, not text (b'\x80\x81\xfe\xff')", id="binary"
        ),
    ],
)
def test_anything_else_is_refused_saying_what_is_wrong(stored: bytes, problem: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(problem)}$"):
        parse_replay_id(stored)
