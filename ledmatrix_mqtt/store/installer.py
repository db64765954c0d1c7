"""Puts plugin folders on disk and takes them off, safely.

One pipeline for every source (registry entry, URL via git or ZIP, git
checkout update): stage in a private folder under ``staging/``, validate the
manifest (its id is canonical and names the folder), run the compatibility
gate, and only then swap the folder in under a journal (see ``swap.py``).
The previous copy is kept aside until the new one is proven and restored on
any failure, so a device with broken DNS never loses a plugin and a refused
install never touches the installed copy. A registry install takes the branch
head (``plugin_path`` inside it for a monorepo), as LEDMatrix does; plugin ids
are owned by one source (see ``install_rules.check_owner``).

Concurrency: per-plugin locks refuse a second operation on the same id with
``Busy`` instead of waiting (see ``locks.py``).
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NewType

from ledmatrix_mqtt.api import ProgressFn
from ledmatrix_mqtt.core.github_urls import GithubUrls
from ledmatrix_mqtt.core.ids import PluginId
from ledmatrix_mqtt.core.manifest import check_compatible
from ledmatrix_mqtt.core.models import (
    DependencyReport,
    InstallResult,
    PluginSource,
    RegistryEntry,
    Stage,
)
from ledmatrix_mqtt.core.versions import is_update_available
from ledmatrix_mqtt.errors import (
    Forbidden,
    InvalidManifest,
    NotInstalled,
)
from ledmatrix_mqtt.store.archive import ArchiveLimits, MiB, extract_plugin
from ledmatrix_mqtt.store.deps import ensure_requirements
from ledmatrix_mqtt.store.fetch import (
    branch_candidates,
    download_first,
    entry_archive_urls,
    repo_of,
)
from ledmatrix_mqtt.store.git import GitError, GitRunner, is_checkout
from ledmatrix_mqtt.store.http import HttpClient
from ledmatrix_mqtt.store.install_rules import (
    Reporter,
    Staged,
    check_owner,
    dependency_failed,
    install_result,
)
from ledmatrix_mqtt.store.layout import StateLayout
from ledmatrix_mqtt.store.locks import PluginLocks
from ledmatrix_mqtt.store.records import UninstallRecords
from ledmatrix_mqtt.store.recovery import recover_state
from ledmatrix_mqtt.store.removal import RemovalTicket
from ledmatrix_mqtt.store.staging import (
    installed_manifest,
    new_workdir,
    plugin_dir,
    read_manifest,
    read_source_marker,
    remove_tree,
    storage_errors,
    write_source_marker,
)
from ledmatrix_mqtt.store.swap import CrashHook, PluginSwap, no_hook

_LOG = logging.getLogger(__name__)
DepsFn = Callable[[Path], DependencyReport]
DEFAULT_MAX_ARCHIVE_BYTES = 64 * MiB
SourceUrl = NewType("SourceUrl", str)  # a URL to install from that passed the policy


@dataclass(frozen=True)
class _Source:
    """Which archive of a registry entry: a branch head (default) or a release."""

    branch: str = ""
    default_branch: str = ""
    version: str = ""


class Installer:
    """Installs, updates and removes plugin folders under ``layout.plugins``."""

    def __init__(
        self,
        layout: StateLayout,
        http: HttpClient,
        github: GithubUrls,
        *,
        core_version: str,
        max_archive_bytes: int = DEFAULT_MAX_ARCHIVE_BYTES,
        deps: DepsFn = ensure_requirements,
        records: UninstallRecords | None = None,
        git: GitRunner | None = None,
        crash_hook: CrashHook = no_hook,
        builtin_dir: Path | None = None,
    ) -> None:
        self.layout = layout
        self.http = http
        self.github = github
        self.core_version = core_version
        self.limits = ArchiveLimits(max_archive_bytes, max_total_bytes=max_archive_bytes)
        self._deps = deps
        self._records = records
        self._git = git if git is not None else GitRunner.from_path()
        self._hook = crash_hook
        self._locks = PluginLocks()
        self._swap = PluginSwap(layout, hook=crash_hook)
        self._builtin_dir = builtin_dir

    # -- public operations ---------------------------------------------------------------
    def install_entry(
        self,
        entry: RegistryEntry,
        *,
        branch: str = "",
        default_branch: str = "",
        version: str = "",
        progress: ProgressFn | None = None,
    ) -> InstallResult:
        """Install (or reinstall) a registry entry; the manifest id names the folder.

        The branch head unless ``version`` asks for a release (see ``entry_archive_urls``).
        """
        with self._locks.hold(entry.id):
            source = _Source(branch, default_branch, version)
            return self._install_entry(entry, "install", source, progress, "")

    def update_entry(
        self, plugin_id: PluginId, entry: RegistryEntry, progress: ProgressFn | None = None
    ) -> InstallResult:
        """Reinstall from the registry only when ``entry.latest_version`` is newer."""
        folder = plugin_dir(self.layout, plugin_id)
        with self._locks.hold(*dict.fromkeys((plugin_id, entry.id))):
            if not os.path.lexists(folder):
                raise NotInstalled(f"plugin {plugin_id!r} is not installed")
            current = installed_manifest(folder)
            fulfilled = read_source_marker(folder).registry_version == entry.latest_version
            if current is not None and (
                fulfilled or not is_update_available(current.version, entry.latest_version)
            ):
                Reporter("update", plugin_id, progress)(Stage.DONE, 100, "up to date")
                return InstallResult(plugin_id, "up_to_date", current.version, current.version)
            return self._install_entry(entry, "update", _Source(), progress, plugin_id)

    def check_source_url(self, url: str, *, allowed: bool) -> SourceUrl:
        """The one policy check of a URL to install from: ``allowed`` (the
        ``store.allow_install_from_url`` setting), then http(s) to a configured host.
        ``git clone`` does not go through the HTTP client, so this check guards it."""
        if not allowed:
            raise Forbidden(
                "installing from a URL runs foreign code and is disabled; "
                "set store.allow_install_from_url: true to allow it"
            )
        self.http.check_url(url)
        return SourceUrl(url)

    def install_from_url(
        self,
        url: SourceUrl,
        *,
        branch: str = "",
        plugin_path: str = "",
        progress: ProgressFn | None = None,
    ) -> InstallResult:
        """Install from a repository URL: ``git clone`` when git is available and no
        ``plugin_path`` is given, else the branch ZIP (only ``plugin_path`` of it, if given).

        ``url`` passed ``check_source_url``. The manifest id is canonical; callers
        cannot override it.
        """
        report = Reporter("install", "", progress)
        workdir = new_workdir(self.layout, "url")
        try:
            report(Stage.RESOLVING, 0, url)
            if self._git.available and not plugin_path:
                folder = self._clone(url, branch, workdir, report)
            else:
                repo = repo_of(url, self.github)
                urls = [self.github.archive(repo, b) for b in branch_candidates(branch)]
                folder = self._fetch_archive(urls, plugin_path, workdir, report)
            staged = self._validate(folder, PluginSource.URL, url, report)
            result = self._activate(staged, report, held=())
        except Exception:
            remove_tree(workdir)
            raise
        remove_tree(workdir)
        return result

    def update_git_checkout(
        self, plugin_id: PluginId, progress: ProgressFn | None = None
    ) -> InstallResult:
        """Fast-forward a plugin folder that is a git checkout (in a staged copy)."""
        target = plugin_dir(self.layout, plugin_id)
        if not is_checkout(target):
            raise NotInstalled(f"plugin {plugin_id!r} is not installed as a git checkout")
        report = Reporter("update", plugin_id, progress)
        with self._locks.hold(plugin_id):
            url = self._git.remote_url(target)
            self.http.check_url(url)
            branch = self._git.current_branch(target)
            if not branch:
                raise GitError(f"{plugin_id} is on a detached HEAD; cannot fast-forward")
            before = self._git.head(target)
            workdir = new_workdir(self.layout, "git")
            try:
                result = self._git_update(plugin_id, target, url, branch, before, workdir, report)
            except Exception:
                remove_tree(workdir)
                raise
            remove_tree(workdir)
            return result

    def remove(self, plugin_id: PluginId) -> RemovalTicket:
        """Move ``plugins/<id>`` aside; the ticket's ``commit``/``rollback`` finish it.

        The plugin stays locked until the ticket is committed or rolled back.
        """
        target = plugin_dir(self.layout, plugin_id)
        if not os.path.lexists(target):
            raise NotInstalled(f"plugin {plugin_id!r} is not installed")
        self._locks.acquire(plugin_id)
        try:
            record = self._swap.begin(plugin_id, "remove", target, None)
        except BaseException:
            self._locks.release(plugin_id)
            raise
        return RemovalTicket(self._swap, record, lambda: self._locks.release(plugin_id))

    def recover(self) -> list[str]:
        """Finish or undo operations interrupted by a crash; clean staging. Call at start-up."""
        return recover_state(self.layout, self._swap, self._intent)

    # -- pipeline ------------------------------------------------------------------------
    def _intent(self, plugin_id: str) -> bool:
        return self._records is not None and self._records.is_uninstalled(plugin_id)

    def _install_entry(
        self,
        entry: RegistryEntry,
        operation: str,
        where: _Source,
        progress: ProgressFn | None,
        expect_id: str,
    ) -> InstallResult:
        """The registry pipeline; the caller holds the locks of ``entry.id`` and ``expect_id``."""
        report = Reporter(operation, expect_id or entry.id, progress)
        held = tuple(dict.fromkeys(i for i in (entry.id, expect_id) if i))
        workdir = new_workdir(self.layout, operation)
        try:
            report(Stage.RESOLVING, 0)
            urls = entry_archive_urls(
                entry,
                self.github,
                branch=where.branch,
                default_branch=where.default_branch,
                version=where.version,
            )
            folder = self._fetch_archive(urls, entry.plugin_path, workdir, report)
            staged = replace(
                self._validate(folder, PluginSource.REGISTRY, entry.repo or urls[0], report),
                registry_id=entry.id,
                # a pinned release is not the registry's latest; the branch head is
                registry_version="" if where.version else entry.latest_version,
            )
            if expect_id and staged.manifest.id != expect_id:
                raise InvalidManifest(
                    f"the registry entry now holds plugin {staged.manifest.id!r}, "
                    f"not {expect_id!r}; refusing to replace it"
                )
            result = self._activate(staged, report, held=held, replaces=expect_id)
        except Exception:
            remove_tree(workdir)
            raise
        remove_tree(workdir)
        return result

    def _fetch_archive(
        self, urls: list[str], subpath: str, workdir: Path, report: Reporter
    ) -> Path:
        archive = workdir / "archive.zip"
        report(Stage.DOWNLOADING, 0)
        download_first(
            self.http,
            urls,
            archive,
            max_bytes=self.limits.max_archive_bytes,
            on_percent=lambda p: report(Stage.DOWNLOADING, p),
        )
        self._hook("downloaded")
        report(Stage.EXTRACTING, 0)
        folder = workdir / "plugin"
        extract_plugin(archive, folder, subpath=subpath, limits=self.limits)
        with storage_errors(f"remove {archive}"):
            archive.unlink()
        self._hook("extracted")
        return folder

    def _clone(self, url: str, branch: str, workdir: Path, report: Reporter) -> Path:
        report(Stage.DOWNLOADING, 0, "git clone")
        folder = workdir / "plugin"
        self._git.clone(url, folder, branch=branch)
        self._hook("extracted")
        return folder

    def _validate(
        self, folder: Path, source: PluginSource, origin: str, report: Reporter
    ) -> Staged:
        report(Stage.VALIDATING, 0)
        manifest = read_manifest(folder)
        check_compatible(manifest, self.core_version)
        self._hook("validated")
        return Staged(folder, manifest, source, origin)

    def _git_update(
        self,
        plugin_id: PluginId,
        target: Path,
        url: str,
        branch: str,
        before: str,
        workdir: Path,
        report: Reporter,
    ) -> InstallResult:
        copy = workdir / "plugin"
        report(Stage.DOWNLOADING, 0, "git fetch")
        with storage_errors(f"copy {target} to staging"):
            shutil.copytree(target, copy, symlinks=True)
        self._git.fast_forward(copy, url, branch)
        if self._git.head(copy) == before:
            version = getattr(installed_manifest(target), "version", "")
            report(Stage.DONE, 100, "up to date")
            return InstallResult(plugin_id, "up_to_date", version, version, PluginSource.URL)
        staged = self._validate(copy, PluginSource.URL, url, report)
        if staged.manifest.id != plugin_id:
            raise InvalidManifest(
                f"the update renames plugin {plugin_id!r} to {staged.manifest.id!r}; refusing"
            )
        return self._activate(staged, report, held=(plugin_id,), replaces=plugin_id)

    def _activate(
        self,
        staged: Staged,
        report: Reporter,
        *,
        held: tuple[str, ...],
        replaces: str = "",
    ) -> InstallResult:
        """Swap the validated copy in; restore the previous copy on any failure."""
        plugin_id = staged.manifest.id
        extra = () if plugin_id in held else (plugin_id,)
        with self._locks.hold(*extra):
            target = plugin_dir(self.layout, plugin_id)
            check_owner(staged, target, replaces, self._builtin_dir)
            previous = installed_manifest(target)
            report(Stage.ACTIVATING, 0)
            write_source_marker(
                staged.folder,
                staged.source,
                staged.origin,
                staged.registry_id,
                staged.registry_version,
            )
            record = self._swap.begin(plugin_id, "install", target, staged.folder)
            try:
                self._swap.activate(record)
                proven = read_manifest(target)
                report(Stage.DEPENDENCIES, 0)
                deps = self._deps(target)
                if deps.status == "failed":
                    raise dependency_failed(plugin_id, deps)
                self._hook("dependencies_done")
                if self._records is not None:
                    also = (staged.registry_id,) if staged.registry_id else ()
                    self._records.forget(plugin_id, *also)
                self._swap.commit(record)
            except Exception:
                self._swap.restore(record)
                raise
        report(Stage.DONE, 100)
        return install_result(proven, previous, staged.source, deps)
