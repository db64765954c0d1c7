"""The service's main thread wakes for SIGTERM/SIGINT whichever thread the kernel hands them to."""

from __future__ import annotations

import subprocess
import sys

import pytest

_PROBE = """
import signal, sys, threading, time
from ledmatrix_mqtt.app import StopSignals

signum = getattr(signal, sys.argv[1])
with StopSignals() as stop:
    def send_to_this_thread():  # to a worker, once the main thread is asleep in wait()
        time.sleep(0.5)
        signal.pthread_kill(threading.get_ident(), signum)
    worker = threading.Thread(target=send_to_this_thread)
    worker.start()
    print(stop.wait().name)
    worker.join()
before = signal.default_int_handler if signum == signal.SIGINT else signal.SIG_DFL
print(signal.getsignal(signum) == before)  # the handlers the process had are back
"""


@pytest.mark.parametrize("name", ["SIGTERM", "SIGINT"])
def test_a_stop_signal_taken_by_another_thread_still_ends_the_wait(name: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, name], capture_output=True, text=True, timeout=20
    )
    assert done.returncode == 0, done.stderr[-1000:]
    assert done.stdout.split() == [name, "True"]
