"""The display and automation commands of ``ledmatrix-mqtt``, as a user types them.

Each one goes over MQTT to the running service; without ``--json`` it prints one
line about the panel, with ``--json`` exactly the response the service published.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import (
    PANEL_SIZE,
    ROOT,
    Appliance,
    cli_json,
    decode_png,
    is_blank,
    run_cli,
    wait_json,
)
from tests.support import yamlio
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.broker, pytest.mark.slow]


def test_snapshot_saves_the_panel_as_png(appliance: Appliance, tmp_path: Path) -> None:
    frame_topic = f"{ROOT}/display/frame"

    def panel_drawn() -> bool:  # plugins load once the service is online, then draw
        frame = appliance.retained(frame_topic).get(frame_topic)
        return bool(frame) and not is_blank(decode_png(frame))

    assert wait_until(panel_drawn, 15)
    target = tmp_path / "panel.png"
    result = run_cli("--config", str(appliance.config_path), "snapshot", str(target))
    assert result.returncode == 0, result.stderr
    assert str(target) in result.stdout
    image = decode_png(target.read_bytes())
    assert image.size == PANEL_SIZE
    assert not is_blank(image)


def test_every_display_command_prints_the_panel_and_json_is_the_mqtt_response(
    appliance: Appliance,
) -> None:
    config = str(appliance.config_path)
    human = {
        ("brightness", "40"): "panel: on, brightness 40%, showing ",
        ("text", "Dinner is ready"): "text set to 'Dinner is ready'; panel: on, brightness 40%",
        ("show", "clock", "--duration", "30"): "showing clock (pinned; 'next' resumes",
        ("next",): "panel: on, brightness 40%",
        ("power", "off"): "panel: off (brightness 40%)",
        ("power", "on"): "panel: on",
    }
    for argv, expected in human.items():
        result = run_cli(*argv, "--config", config)
        assert result.returncode == 0, (argv, result.stderr)
        assert expected in result.stdout, (argv, result.stdout)
        assert result.stdout.count("\n") == 1
    assert appliance.service.display is not None
    assert appliance.service.display.state().brightness == 40
    # --json prints exactly the envelope the service published for this request.
    result = run_cli("brightness", "55", "--json", "--config", config)
    body = cli_json(result)
    assert body["status"] == "ok" and body["data"]["brightness"] == 55
    published = wait_json(appliance.ha, f"{ROOT}/response/brightness",
                          lambda d: d.get("transaction") == body["transaction"])  # fmt: skip
    assert published == body


def test_automation_commands_print_a_line_and_json_is_the_mqtt_response(
    appliance: Appliance,
) -> None:
    config = str(appliance.config_path)
    human = {
        ("notify", "Washer done", "--color", "#00ff00", "--hold", "--id", "wash"): (
            "showing 'Washer done' (id wash); 0 queued"
        ),
        ("notify", "Door", "--priority", "5", "--hold", "--id", "door"): (
            "showing 'Door' (id door); 1 queued"
        ),
        ("dismiss", "door"): "showing 'Washer done' (id wash); 0 queued",
        ("dismiss",): "no notification showing; the rotation runs",
        ("schedule", "--off", "--start", "06:30", "--end", "22:00"): (
            "schedule off 06:30-22:00; dim schedule off 22:00-07:00 at 30%; now inside active hours"
        ),
        ("configure", "clock", "show_date=false", "color=[0,255,0]"): '"show_date": false',
        ("rotation", "status", "clock"): "rotation: status, clock",
    }
    for argv, expected in human.items():
        result = run_cli(*argv, "--config", config)
        assert result.returncode == 0, (argv, result.stderr)
        assert expected in result.stdout, (argv, result.stdout)
        assert result.stdout.count("\n") == 1
    doc = yamlio.read(appliance.config_path)
    assert doc["schedule"] == {"enabled": False, "start_time": "06:30", "end_time": "22:00"}
    assert doc["plugins"]["clock"]["color"] == [0, 255, 0]
    result = run_cli("notify", "Hi", "--duration", "2", "--json", "--config", config)
    body = cli_json(result)
    assert body["status"] == "ok" and body["data"]["current"]["text"] == "Hi"
    published = wait_json(appliance.ha, f"{ROOT}/response/notify",
                          lambda d: d.get("transaction") == body["transaction"])  # fmt: skip
    assert published == body
    bad = run_cli("schedule", "--dim-brightness", "101", "--config", config)
    assert bad.returncode == 1 and bad.stderr.startswith(
        "ledmatrix-mqtt: invalid_config: dim_schedule.dim_brightness: "
    ), bad.stderr
    nothing = run_cli("schedule", "--config", config)
    assert nothing.returncode == 2 and "nothing to change" in nothing.stderr


def test_display_command_errors_keep_their_code(appliance: Appliance) -> None:
    result = run_cli("show", "no-such-plugin", "--config", str(appliance.config_path))
    assert result.returncode == 1
    assert result.stderr.startswith("ledmatrix-mqtt: not_installed:") or \
        result.stderr.startswith("ledmatrix-mqtt: not_found:"), result.stderr  # fmt: skip
    bad = run_cli("brightness", "101", "--config", str(appliance.config_path))
    assert bad.returncode == 2 and "must be from 0 to 100" in bad.stderr


def test_snapshot_to_a_bad_path_is_one_line(appliance: Appliance, tmp_path: Path) -> None:
    target = tmp_path / "no-such-folder" / "panel.png"
    result = run_cli("snapshot", str(target), "--config", str(appliance.config_path))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"ledmatrix-mqtt: cannot write {target}: folder {target.parent} does not exist"
    ]
    assert not target.parent.exists()
