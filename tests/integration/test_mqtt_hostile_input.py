"""Regressions for hostile and odd MQTT input, through a real mosquitto.

Every command gets exactly one response whatever its bytes (lone surrogates,
odd command names), JSON-looking text is text, and the command API's first-day
rough edges (issue 9) are answered where the sender looks.
"""

from __future__ import annotations

import json

import pytest

from tests.integration.frontend_env import ROOT, Service
from tests.support.waiting import wait_until

pytestmark = pytest.mark.broker


def responses(service: Service, topic: str) -> list[dict]:
    return [json.loads(p) for p in service.probe.on(topic)]


def send_raw(service: Service, command: str, payload: bytes) -> dict:
    """Publish ``payload`` verbatim on ``cmd/<command>``; the one response it gets."""
    topic = f"{ROOT}/response/{command}"
    seen = len(service.probe.on(topic))
    service.probe.publish(f"{ROOT}/cmd/{command}", payload)
    assert wait_until(lambda: len(service.probe.on(topic)) > seen), f"no answer on {topic}"
    return json.loads(service.probe.on(topic)[seen])


@pytest.mark.parametrize(
    ("where", "command", "payload"),
    [
        ("transaction", "list", b'{"transaction":"\\ud800"}'),
        ("field name", "list", b'{"\\ud800":1,"transaction":"t-key"}'),
        ("text", "text", b'{"text":"\\ud800","transaction":"t-text"}'),
        ("plugin_id", "install", b'{"plugin_id":"\\udfff","transaction":"t-pid"}'),
    ],
)
def test_lone_surrogate_in_a_command_gets_exactly_one_invalid_payload_answer(
    service: Service, where: str, command: str, payload: bytes
) -> None:
    """Regression for issue 11.1: a lone surrogate escape in ``transaction``, a field name,
    ``text`` or ``plugin_id`` got no response at all."""
    answer = send_raw(service, command, payload)
    assert answer["status"] == "error" and answer["error"]["code"] == "invalid_payload", where
    if where != "transaction":  # a clean transaction is echoed
        assert answer["transaction"] and answer["transaction"].startswith("t-")
    # exactly one: a later command's answer arrives and no second copy came first
    assert send_raw(service, "next", b"{}")["status"] == "ok"
    assert len(service.probe.on(f"{ROOT}/response/{command}")) == 1


def test_after_a_surrogate_text_display_commands_answer_and_state_is_fresh(
    service: Service,
) -> None:
    """Regression for issue 11.1: after such a ``text``, display commands ran but were never
    answered and ``state/display`` went stale."""
    send_raw(service, "text", b'{"text":"bad \\ud800 text"}')
    for value in (11, 22, 33):
        assert send_raw(service, "brightness", str(value).encode())["status"] == "ok"
    display = f"{ROOT}/state/display"
    assert wait_until(
        lambda: (
            service.probe.on(display)
            and json.loads(service.probe.on(display)[-1])["brightness"] == 33
        )
    )
    assert send_raw(service, "text", b'{"text":"after"}')["status"] == "ok"
    assert wait_until(lambda: json.loads(service.probe.on(display)[-1])["text"] == "after")


@pytest.mark.parametrize("shown", ["true", "null", "[1, 2]", "42", "4.20", ""])
def test_text_that_looks_like_json_is_shown_as_sent(service: Service, shown: str) -> None:
    """Regression for issue 9: HA's Message entity could not be cleared (empty payload was
    ``invalid_payload``) and "true"/"null"/"[1, 2]" were parsed instead of shown."""
    send_raw(service, "text", b"something first")
    for payload in (shown.encode(), json.dumps({"text": shown}).encode()):
        assert send_raw(service, "text", payload)["status"] == "ok"
        assert service.display.text() == shown


def test_command_names_in_another_case_are_answered_where_the_sender_looks(
    service: Service,
) -> None:
    """Regression for issue 9: ``cmd/LIST`` was answered on ``response/unknown``,
    ``cmd/list/extra`` got no answer, and the unknown command's answer had no transaction."""
    upper = send_raw(service, "LIST", b'{"transaction":"t-upper"}')
    assert (upper["error"]["code"], upper["transaction"]) == ("unknown_command", "t-upper")
    deeper = send_raw(service, "list/extra", b'{"transaction":"t-deep"}')
    assert (deeper["error"]["code"], deeper["transaction"]) == ("unknown_command", "t-deep")
    odd = send_raw(service, "unknown", b"{}")  # the catch-all topic itself still answers
    assert odd["error"]["code"] == "unknown_command"


def test_malformed_payloads_pay_the_rate_limiter(service: Service) -> None:
    """Regression for issue 11.11: malformed payloads bypassed the rate limiter."""
    from ledmatrix_mqtt.mqtt.frontend import FrontendTuning

    service.restart_frontend(FrontendTuning(rate=0.5, burst=5.0, birth_delay=(0.05, 0.1)))
    topic = f"{ROOT}/response/list"
    before = len(service.probe.on(topic))
    for _ in range(20):
        service.probe.publish(f"{ROOT}/cmd/list", b"{not json")
    assert wait_until(lambda: len(service.probe.on(topic)) - before >= 20)
    codes = [json.loads(p)["error"]["code"] for p in service.probe.on(topic)[before:]]
    assert codes.count("rate_limited") >= 14, codes
    assert codes.count("invalid_payload") <= 6, codes


def test_a_bug_when_submitting_a_store_operation_still_gets_one_answer(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr(service.store, "submit", broken)
    answer = send_raw(service, "install", b'{"plugin_id":"weather","transaction":"t-bug"}')
    assert (answer["error"]["code"], answer["transaction"]) == ("internal_error", "t-bug")
    assert send_raw(service, "next", b"{}")["status"] == "ok"
    assert len(service.probe.on(f"{ROOT}/response/install")) == 1


def test_a_surrogate_in_a_plugin_name_keeps_list_and_state_answering(service: Service) -> None:
    """Regression for issue 11.1: a lone surrogate in one plugin's manifest name made
    ``list`` and every later command go unanswered (the JSON could not be encoded)."""
    import dataclasses

    plugin = service.store.installed["clock-simple"]
    service.store.installed["clock-simple"] = dataclasses.replace(plugin, name="Clock \ud800")
    service.frontend.plugins_changed()  # what the app calls after a store change
    answer = send_raw(service, "list", b'{"transaction":"t-name"}')
    assert answer["status"] == "ok"
    assert answer["data"]["plugins"][0]["name"] == "Clock \ud800"  # escaped, not lost
    topic = f"{ROOT}/state/plugins/clock-simple"
    assert wait_until(
        lambda: any(json.loads(p).get("name") == "Clock \ud800" for p in service.probe.on(topic))
    )
    assert send_raw(service, "uninstall", b'"clock-simple"')["status"] == "ok"
