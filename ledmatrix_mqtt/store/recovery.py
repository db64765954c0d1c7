"""Start-up recovery: settle interrupted swaps, then clear staging and stray asides.

Run once at start-up, before any install, update or removal (a live removal
ticket's aside would look stray). After it, ``plugins/`` holds, for every
plugin, either its previous complete copy or the complete new one, and
``staging/``, ``rollback/`` and ``journal/`` are empty, and no temp file of an
interrupted atomic write is left in the state dir.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

from ledmatrix_mqtt.core.ids import is_valid_plugin_id
from ledmatrix_mqtt.errors import LedMatrixError
from ledmatrix_mqtt.fsutil import sorted_entries
from ledmatrix_mqtt.store.layout import StateLayout
from ledmatrix_mqtt.store.staging import clean_staging, remove_tree
from ledmatrix_mqtt.store.swap import PluginSwap

_LOG = logging.getLogger(__name__)


def recover_state(
    layout: StateLayout, swap: PluginSwap, intent: Callable[[str], bool]
) -> list[str]:
    """Returns one human-readable line per thing done (empty when all was clean)."""
    done: list[str] = []
    for record in swap.pending():
        try:
            outcome = swap.recover(record, intent)
        except (LedMatrixError, OSError) as exc:
            _LOG.error("cannot recover %s: %s", record.plugin_id, exc)
            done.append(f"{record.plugin_id}: recovery failed: {exc}")
            continue
        _LOG.warning("recovered interrupted operation on %s: %s", record.plugin_id, outcome)
        done.append(f"{record.plugin_id}: {outcome}")
    done += [f"staging: removed {name}" for name in clean_staging(layout)]
    done += _stray_asides(layout)
    done += _stale_temps(layout)
    return done


def _stale_temps(layout: StateLayout) -> list[str]:
    """Temp files of atomic writes a kill interrupted (records, cache, frames, journal...).

    ``plugins/`` is not searched: a plugin's own files are none of our business.
    """
    done: list[str] = []
    skip = {layout.plugins, layout.staging, layout.rollback}
    for folder, dirs, files in os.walk(layout.root):
        dirs[:] = [d for d in dirs if Path(folder, d) not in skip]
        for name in files:
            if name.startswith(".") and name.endswith(".tmp"):
                try:
                    os.unlink(os.path.join(folder, name))
                except OSError as exc:
                    done.append(f"cannot remove temp file {name}: {exc.strerror}")
                    continue
                done.append(f"removed temp file {name}")
    return done


def _stray_asides(layout: StateLayout) -> list[str]:
    """Asides without a journal record (their record was lost): restore or delete."""
    done: list[str] = []
    for path in sorted_entries(layout.rollback):
        plugin_id = path.name.rsplit(".", 1)[0]
        target = layout.plugins / plugin_id
        restorable = path.suffix not in (".discard", ".replaced") and is_valid_plugin_id(plugin_id)
        if restorable and not os.path.lexists(target):
            try:
                os.rename(path, target)
            except OSError as exc:
                done.append(f"{plugin_id}: cannot restore {path.name}: {exc.strerror}")
                continue
            done.append(f"{plugin_id}: restored from {path.name}")
        elif remove_tree(path):
            done.append(f"rollback: removed {path.name}")
    return done
