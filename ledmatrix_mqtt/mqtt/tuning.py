"""Plain values the front end is configured with and reports."""

from __future__ import annotations

from dataclasses import dataclass, field

from ledmatrix_mqtt.mqtt.client import Backoff


@dataclass(frozen=True)
class FrontendTuning:
    """Limits and delays; the defaults suit a Pi. Tests and benchmarks shorten them."""

    rate: float = 20.0  # inbound commands per second, sustained
    burst: float = 60.0
    display_queue: int = 256
    frame_interval: float = 1.0
    birth_delay: tuple[float, float] = (1.0, 5.0)
    birth_interval: float = 10.0  # at most one birth republish per this many seconds
    progress_interval: float = 0.25
    backoff: Backoff = field(default_factory=Backoff)


@dataclass(frozen=True)
class ReplyRoute:
    command: str
    response_topic: str = ""
    correlation: bytes | None = None


@dataclass(frozen=True)
class FrontendStats:
    dropped_inbound: int
    rate_limited: int
    retained_commands_cleared: int
    births_scheduled: int = 0  # republishes scheduled for HA births (one per pending window)
