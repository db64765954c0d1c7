"""Crash-safe replacement and removal of one plugin folder, with a journal.

Before touching ``plugins/<id>`` a journal record (``journal/<id>.json``) names
the staged copy, the aside (``rollback/<id>.<token>``) and the target. The
folder moves are renames on one filesystem, so at any instant the plugin is
either the old copy (in place or aside) or the complete new one. ``recover``
reads the journal after a crash and finishes or undoes the move:

* install: staged copy still present -> the swap never happened, put the old
  copy back; staged copy gone and the target has a valid manifest -> the new
  copy is complete, drop the aside; otherwise restore the aside (or, for a
  fresh install, remove the incomplete new copy).
* remove: the aside is deleted when the uninstall intent was recorded
  (``intent(id)`` is True), else put back.

The journal is removed only after the aside is gone, so an interrupted delete
is finished on the next start.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from ledmatrix_mqtt.core.ids import is_valid_plugin_id
from ledmatrix_mqtt.errors import StorageFailed
from ledmatrix_mqtt.fsutil import atomic_write_json, fsync_dir, read_json
from ledmatrix_mqtt.store.layout import StateLayout
from ledmatrix_mqtt.store.staging import (
    aside_path,
    installed_manifest,
    remove_tree,
    storage_errors,
)

_LOG = logging.getLogger(__name__)
CrashHook = Callable[[str], None]


def no_hook(_point: str) -> None:
    """Default crash hook: does nothing (tests inject one that raises)."""


@dataclass(frozen=True)
class SwapRecord:
    """One journal entry. Paths are absolute strings; ``staged`` is empty for removals.

    ``previous`` says whether a copy was in place at ``begin`` (False for a fresh
    install: undoing it means removing the target, not restoring an aside).
    """

    plugin_id: str
    kind: str  # "install" | "remove"
    target: str
    aside: str
    staged: str = ""
    previous: bool = True


class PluginSwap:
    """Moves plugin folders in and out of ``plugins/`` under a journal."""

    def __init__(self, layout: StateLayout, *, hook: CrashHook = no_hook) -> None:
        self.layout = layout
        self._hook = hook

    def _journal(self, plugin_id: str) -> Path:
        return self.layout.journal / f"{plugin_id}.json"

    def _write(self, record: SwapRecord) -> None:
        atomic_write_json(self._journal(record.plugin_id), asdict(record))

    def _drop(self, record: SwapRecord) -> None:
        path = self._journal(record.plugin_id)
        with storage_errors(f"remove journal {path}"):
            path.unlink(missing_ok=True)
        fsync_dir(path.parent)

    def begin(self, plugin_id: str, kind: str, target: Path, staged: Path | None) -> SwapRecord:
        """Journal the move and put any existing target aside."""
        aside = aside_path(self.layout, plugin_id, uuid.uuid4().hex[:8])
        previous = os.path.lexists(target)
        record = SwapRecord(plugin_id, kind, str(target), str(aside), str(staged or ""), previous)
        with storage_errors(f"create {self.layout.rollback}"):
            self.layout.rollback.mkdir(parents=True, exist_ok=True)
        self._write(record)
        self._hook("journal_written")
        if previous:
            try:
                os.rename(target, aside)
            except OSError as exc:
                self._drop(record)
                raise StorageFailed(f"cannot move {target} aside: {exc.strerror}") from exc
            fsync_dir(target.parent)
        self._hook("old_moved_aside")
        return record

    def activate(self, record: SwapRecord) -> None:
        """Move the staged copy into place; on failure put the old copy back."""
        try:
            os.rename(record.staged, record.target)
            fsync_dir(Path(record.target).parent)
        except OSError as exc:
            self.restore(record)
            raise StorageFailed(f"cannot move the new copy into place: {exc.strerror}") from exc
        self._hook("new_moved_in")

    def commit(self, record: SwapRecord) -> None:
        """The new state is proven: delete the aside, then the journal.

        The aside is first renamed to ``*.discard`` so that a crash during the
        delete never leaves a half-deleted folder that ``restore`` could put back.
        """
        self._hook("before_commit")
        aside = Path(record.aside)
        doomed = aside.with_name(aside.name + ".discard")
        if os.path.lexists(aside):
            with storage_errors(f"discard {aside}"):
                os.rename(aside, doomed)
        self._hook("aside_discarded")
        remove_tree(doomed)
        self._hook("aside_deleted")
        self._drop(record)

    def restore(self, record: SwapRecord) -> None:
        """Undo: put the aside back in place, removing a new copy that had moved in.

        Without a previous copy (a fresh install) the new copy is removed, so a
        failed install leaves no plugin folder. Idempotent.
        """
        target, aside = Path(record.target), Path(record.aside)
        if record.staged:
            remove_tree(Path(record.staged))
        remove_tree(aside.with_name(aside.name + ".discard"))  # a commit had begun deleting it
        put_back = os.path.lexists(aside)
        if (put_back or not record.previous) and os.path.lexists(target):
            trash = aside.with_name(aside.name + ".replaced")
            with storage_errors(f"move {target} out of the way"):
                os.rename(target, trash)
            remove_tree(trash)
        if put_back:
            with storage_errors(f"restore {target}"):
                os.rename(aside, target)
        fsync_dir(target.parent)
        self._drop(record)

    # -- recovery ------------------------------------------------------------------
    def pending(self) -> list[SwapRecord]:
        """Journal records left by an interrupted operation (unreadable ones are dropped)."""
        out: list[SwapRecord] = []
        try:
            paths = sorted(self.layout.journal.glob("*.json"))
        except OSError:
            return out
        for path in paths:
            data = read_json(path)
            record = _record_from(data, self.layout)
            if record is None:
                _LOG.warning("discarding unreadable journal record %s", path)
                path.unlink(missing_ok=True)
                continue
            out.append(record)
        return out

    def recover(self, record: SwapRecord, intent: Callable[[str], bool]) -> str:
        """Finish or undo one interrupted move; returns what was done."""
        if record.kind == "remove":
            discarding = os.path.lexists(record.aside + ".discard")
            if intent(record.plugin_id) or discarding:
                if os.path.lexists(record.target) and not os.path.lexists(record.aside):
                    os.rename(record.target, record.aside)
                self.commit(record)
                return "removal finished"
            self.restore(record)
            return "removal undone"
        staged_left = bool(record.staged) and os.path.lexists(record.staged)
        if not staged_left and installed_manifest(Path(record.target)) is not None:
            self.commit(record)
            return "install finished"
        self.restore(record)
        return "install rolled back"


def _record_from(data: object, layout: StateLayout) -> SwapRecord | None:
    """A journal record, only if every path lies where the installer puts them."""
    if not isinstance(data, dict):
        return None
    try:
        record = SwapRecord(**{k: str(data[k]) for k in ("plugin_id", "kind", "target", "aside")},
                            staged=str(data.get("staged", "")),
                            previous=data.get("previous", True) is not False)  # fmt: skip
    except KeyError:
        return None
    target, aside = Path(record.target), Path(record.aside)
    well_formed = (
        is_valid_plugin_id(record.plugin_id)
        and record.kind in ("install", "remove")
        and target.name == record.plugin_id
        and _same(target.parent, layout.plugins)
        and _same(aside.parent, layout.rollback)
        and (not record.staged or _inside(Path(record.staged), layout.staging))
    )
    return record if well_formed else None


def _same(a: Path, b: Path) -> bool:
    return os.path.realpath(a) == os.path.realpath(b)


def _inside(path: Path, root: Path) -> bool:
    real, base = os.path.realpath(path), os.path.realpath(root)
    return real.startswith(base + os.sep)
