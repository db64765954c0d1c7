"""Command payload parsing and the response envelope (pure)."""

from __future__ import annotations

import json

import pytest

from ledmatrix_mqtt.errors import InvalidPayload
from ledmatrix_mqtt.mqtt.codec import Rejected, decode_request, encode_ok_raw, encode_response
from ledmatrix_mqtt.mqtt.command_args import (
    BrightnessArgs,
    DismissArgs,
    EnableArgs,
    InstallArgs,
    NoArgs,
    NotifyArgs,
    PowerArgs,
    ReconcileArgs,
    ScheduleArgs,
    SearchArgs,
    ShowArgs,
    TextArgs,
    UpdateArgs,
    coerce_bool,
)
from ledmatrix_mqtt.mqtt.messages import encode_json


@pytest.mark.parametrize(
    ("command", "payload", "args"),
    [
        ("install", b'{"plugin_id":"clock-simple"}', InstallArgs(plugin_id="clock-simple")),
        ("install", b"clock-simple", InstallArgs(plugin_id="clock-simple")),
        (
            "install",
            b'{"url":"https://github.com/a/b","branch":"dev"}',
            InstallArgs(url="https://github.com/a/b", branch="dev"),
        ),
        ("update", b'{"all":"yes"}', UpdateArgs(all=True)),
        ("update", b'"weather"', UpdateArgs(plugin_id="weather")),
        ("list", b"{}", NoArgs()),
        (
            "search",
            b'{"query":"clock","tags":"time","refresh":"On"}',
            SearchArgs(query="clock", tags=("time",), refresh=True),
        ),
        ("search", b"clock", SearchArgs(query="clock")),
        ("reconcile", b'{"force":1,"dry_run":"FALSE"}', ReconcileArgs(force=True, dry_run=False)),
        ("enable", b'{"plugin_id":"a.b","enabled":"off"}', EnableArgs("a.b", False)),
        ("disable", b"weather", EnableArgs("weather", False)),
        ("show", b'{"plugin_id":"weather","duration":30}', ShowArgs("weather", 30.0)),
        ("brightness", b"42", BrightnessArgs(42)),
        ("brightness", b'{"value":"99.6"}', BrightnessArgs(100)),
        ("power", b"OFF", PowerArgs(False)),
        ("power", b'{"state":"on"}', PowerArgs(True)),
        ("text", b"Hello world", TextArgs("Hello world")),
        ("text", b"12", TextArgs("12")),
        ("text", b'{"text":"true"}', TextArgs("true")),
        ("text", b'{"text":""}', TextArgs("")),
    ],
)
def test_valid_payloads(command: str, payload: bytes, args: object) -> None:
    assert decode_request(command, payload).args == args


def test_transaction_is_carried() -> None:
    req = decode_request("list", b'{"transaction":"abc"}')
    assert req.transaction == "abc"


@pytest.mark.parametrize(
    ("command", "payload", "code"),
    [
        ("list", b"[]", "invalid_payload"),
        ("list", b"null", "invalid_payload"),
        ("list", b"clock", "invalid_payload"),
        ("list", b"", "invalid_payload"),
        ("list", b'{"x":1}', "invalid_payload"),
        ("list", b'{"transaction":' + b'"' + b"t" * 65 + b'"}', "invalid_payload"),
        ("list", b'{"transaction":5}', "invalid_payload"),
        ("install", b'{"plugin_id":"../../etc"}', "invalid_plugin_id"),
        ("install", b'{"plugin_id":7}', "invalid_payload"),
        ("install", b'{"url":"file:///etc/passwd"}', "invalid_payload"),
        ("install", b"\xff", "invalid_payload"),
        ("install", b"[" * 50000, "invalid_payload"),
        ("install", b"x" * (64 * 1024 + 1), "payload_too_large"),
        ("update", b'{"all":true,"plugin_id":"x"}', "invalid_payload"),
        ("brightness", b"true", "invalid_payload"),
        ("brightness", b"NaN", "invalid_payload"),
        ("brightness", b"-1", "invalid_payload"),
        ("power", b"{}", "invalid_payload"),
        ("power", b'"maybe"', "invalid_payload"),
        ("text", b'{"text":"' + b"x" * 256 + b'"}', "invalid_payload"),
        ("show", b'{"plugin_id":"a","duration":0}', "invalid_payload"),
        ("reboot", b"{}", "unknown_command"),
    ],
)
def test_invalid_payloads_raise_typed_errors(command: str, payload: bytes, code: str) -> None:
    with pytest.raises(Rejected) as info:
        decode_request(command, payload)
    assert info.value.error.code == code


@pytest.mark.parametrize("word", ["true", "TRUE", "on", "On", "1", 1, True])
def test_coerce_bool_true(word: object) -> None:
    assert coerce_bool(word, "x") is True


@pytest.mark.parametrize("word", ["false", "Off", "0", 0, False])
def test_coerce_bool_false(word: object) -> None:
    assert coerce_bool(word, "x") is False


def test_coerce_bool_rejects_others() -> None:
    with pytest.raises(InvalidPayload):
        coerce_bool(2, "x")


def test_response_envelopes() -> None:
    ok = json.loads(encode_response("list", data={"plugins": []}, transaction="t"))
    assert ok == {"command": "list", "status": "ok", "data": {"plugins": []}, "transaction": "t"}
    err = json.loads(encode_response("install", error=InvalidPayload("bad")))
    assert err == {
        "command": "install",
        "status": "error",
        "error": {"code": "invalid_payload", "message": "bad"},
        "transaction": None,
    }


def test_a_bare_string_notify_payload_is_the_text() -> None:
    args = decode_request("notify", b"Washing machine done").args
    assert isinstance(args, NotifyArgs)
    assert args.notification.text == "Washing machine done"


def test_notify_takes_awtrix_passes_as_repeat_and_names_a_bad_field() -> None:
    body = {"text": "hi", "color": "#ff0000", "passes": 2, "priority": 5, "hold": True}
    n = decode_request("notify", json.dumps(body).encode()).args.notification  # type: ignore[union-attr]
    assert (n.color, n.repeat, n.priority, n.hold) == ((255, 0, 0), 2, 5, True)
    assert "priority" in rejected("notify", b'{"text": "hi", "priority": 99}')
    assert "unknown field" in rejected("notify", b'{"text": "hi", "colour": "red"}')


def test_dismiss_all_or_one() -> None:
    assert decode_request("dismiss", b"{}").args == DismissArgs(None)
    assert decode_request("dismiss", b'{"id": "door"}').args == DismissArgs("door")
    assert decode_request("dismiss", b"door").args == DismissArgs("door")


def test_schedule_needs_a_block_and_takes_partial_ones() -> None:
    args = decode_request("schedule", b'{"dim_schedule": {"dim_brightness": 20}}').args
    assert isinstance(args, ScheduleArgs)
    assert args.schedule is None and dict(args.dim_schedule or {}) == {"dim_brightness": 20}
    assert "'schedule' and/or 'dim_schedule'" in rejected("schedule", b"{}")
    assert "must be a JSON object" in rejected("schedule", b'{"schedule": "on"}')


def rejected(command: str, payload: bytes) -> str:
    """The ``invalid_payload`` message ``payload`` gets."""
    with pytest.raises(Rejected) as info:
        decode_request(command, payload)
    assert info.value.error.code == "invalid_payload"
    return info.value.error.message


@pytest.mark.parametrize(
    "payload",
    [b"", b"true", b"null", b"[1, 2]", b"42", b"4.20", b'"quoted"', b"  spaced  "],
)
def test_text_sent_bare_is_shown_exactly_as_sent(payload: bytes) -> None:
    """Regression for issue 9: HA's Message entity could not be cleared (an empty
    payload was invalid) and "true", "null", "[1, 2]" were parsed as JSON, not shown."""
    assert decode_request("text", payload).args == TextArgs(payload.decode())


@pytest.mark.parametrize(
    ("command", "payload"),
    [
        ("list", b'{"transaction":"\\ud800"}'),  # transaction
        ("list", b'{"\\ud800":1}'),  # a field name
        ("text", b'{"text":"a\\udfffb"}'),  # text
        ("install", b'{"plugin_id":"\\ud83d"}'),  # plugin id
        ("install", b'"\\ud800"'),  # a bare JSON string
        ("search", b'{"tags":["ok",["\\udc00"]]}'),  # nested
        ("bogus", b'{"\\ud800":"x"}'),  # even for an unknown command
    ],
)
def test_lone_surrogate_anywhere_is_invalid_payload(command: str, payload: bytes) -> None:
    """Regression for issue 11.1: a lone surrogate (valid JSON) in a command got no
    response and, in ``text``, wedged the display worker."""
    with pytest.raises(Rejected) as info:
        decode_request(command, payload)
    assert info.value.error.code == "invalid_payload"


def test_error_keeps_a_clean_transaction_even_when_another_field_is_bad() -> None:
    with pytest.raises(Rejected) as info:
        decode_request("text", b'{"transaction":"t-9","text":"\\ud800"}')
    assert info.value.transaction == "t-9"


def test_unknown_command_keeps_the_transaction() -> None:
    """Regression for issue 9: an unknown command's response dropped the transaction."""
    with pytest.raises(Rejected) as info:
        decode_request("LIST", b'{"transaction":"t-1"}')
    assert (info.value.error.code, info.value.transaction) == ("unknown_command", "t-1")


def test_encode_json_never_fails_on_surrogates_and_round_trips() -> None:
    value = {"name\ud800": "x\udfffy", "ok": "\u00fc\U0001f600"}
    raw = encode_json(value)
    raw.decode("utf-8")  # valid UTF-8
    assert json.loads(raw) == value


def test_unencodable_response_data_still_gives_one_error_envelope() -> None:
    out = json.loads(encode_response("list", data={"x": object()}, transaction="t"))
    assert (out["status"], out["error"]["code"], out["transaction"]) == (
        "error",
        "internal_error",
        "t",
    )


def test_transaction_of_reads_only_small_clean_payloads() -> None:
    from ledmatrix_mqtt.mqtt.codec import MAX_HINT_BYTES, transaction_of

    assert transaction_of(b'{"transaction":"t-1","plugin_id":"x"}') == "t-1"
    assert transaction_of(b'{"transaction":"\\ud800"}') == ""
    assert transaction_of(b"{not json") == transaction_of(b"[1]") == ""
    big = b'{"transaction":"t-2","text":"' + b"x" * MAX_HINT_BYTES + b'"}'
    assert transaction_of(big) == ""  # bounded work: not parsed


@pytest.mark.parametrize("transaction", ["", "t-1", "é\u2603"])
def test_spliced_list_response_is_byte_identical_to_encode_response(transaction: str) -> None:
    data = {"plugins": [{"id": "clock", "name": "Cl\u00f6ck \ud800", "enabled": True}]}
    spliced = encode_ok_raw("list", encode_json(data), transaction)
    assert spliced == encode_response("list", data=data, transaction=transaction)
