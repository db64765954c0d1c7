"""Which archive URLs to try for a plugin, and downloading the first that exists.

Branch candidates are tried in order; only a definite "not there" (404/410)
moves on to the next one. A network failure, 5xx, rate limit or truncated
body stops at once and is reported as itself: trying five branches against a
dead network only delays the error and ends in a misleading "not found".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from urllib.parse import urlsplit

from ledmatrix_mqtt.core.github_urls import GithubUrls, RepoRef, parse_repo_url
from ledmatrix_mqtt.core.models import RegistryEntry
from ledmatrix_mqtt.core.registry_format import listed_download_url
from ledmatrix_mqtt.errors import DownloadFailed, Forbidden, NotFound
from ledmatrix_mqtt.store.http import HttpClient, HttpError
from ledmatrix_mqtt.store.staging import storage_errors

PercentFn = Callable[[int], None]
FALLBACK_BRANCHES = ("main", "master")


def branch_candidates(*branches: str) -> list[str]:
    """The given branches then ``main``/``master``, de-duplicated, empties dropped."""
    out: list[str] = []
    for branch in (*branches, *FALLBACK_BRANCHES):
        if branch and branch not in out:
            out.append(branch)
    return out


def repo_of(url: str, github: GithubUrls) -> RepoRef:
    """The repo a web URL names; ``Forbidden`` unless it is on the configured GitHub host.

    The URL itself is never requested (the archive URL built from the repo is, and
    ``HttpClient`` checks every request and redirect against the allow-list).
    """
    repo = parse_repo_url(url)
    if repo is None:
        raise DownloadFailed(f"{url!r} is not a repository URL (https://host/owner/name)")
    if urlsplit(url).hostname != urlsplit(github.web_url).hostname:
        raise Forbidden(f"repository {url!r} is not on the configured GitHub host")
    return repo


def entry_archive_urls(
    entry: RegistryEntry,
    github: GithubUrls,
    *,
    branch: str = "",
    default_branch: str = "",
    version: str = "",
) -> list[str]:
    """Archive URLs to try for a registry entry: its branch head, as LEDMatrix installs.

    The branch candidates are the requested branch, the entry's ``branch``, the
    repository's default branch, then ``main``/``master``; the monorepo
    ``plugin_path`` is applied by the extractor. The legacy ``download_url`` (a
    tag archive that can lag the branch head) is used only for an entry that
    names no repository. A requested ``version`` is the archive the entry's
    ``versions[]`` lists for it, else the tag ``v<version>`` or ``<version>``.
    """
    if version:
        return _version_urls(entry, github, version)
    urls: list[str] = []
    if entry.repo:
        repo = repo_of(entry.repo, github)
        candidates = branch_candidates(branch, entry.branch, default_branch)
        urls += [github.archive(repo, b) for b in candidates]
    elif entry.download_url:
        urls.append(entry.download_url)  # checked by HttpClient before any byte is sent
    if not urls:
        raise DownloadFailed(f"registry entry {entry.id!r} names no repository")
    return urls


def _version_urls(entry: RegistryEntry, github: GithubUrls, version: str) -> list[str]:
    urls = [listed_download_url(entry, version)]
    if entry.repo:
        repo = repo_of(entry.repo, github)
        urls += [github.tag_archive(repo, f"v{version}"), github.tag_archive(repo, version)]
    found = [u for u in dict.fromkeys(urls) if u]
    if not found:
        raise NotFound(f"registry entry {entry.id!r} lists no version {version!r}")
    return found


def download_first(
    http: HttpClient,
    urls: Sequence[str],
    dest: Path,
    *,
    max_bytes: int,
    on_percent: PercentFn | None = None,
) -> str:
    """Download the first URL that exists into ``dest``; returns that URL.

    Raises ``DownloadFailed`` (all 404, or a transient failure),
    ``PayloadTooLarge``, ``Forbidden`` or ``StorageFailed``.
    """
    missing: list[str] = []
    for url in urls:

        def progress(done: int, total: int | None) -> None:
            if on_percent is not None and total:
                on_percent(min(100, done * 100 // total))

        try:
            with storage_errors(f"write {dest}"), dest.open("wb") as handle:
                http.download(url, handle, max_bytes=max_bytes, progress=progress)
            return url
        except HttpError as exc:
            if exc.status in (404, 410):
                missing.append(url)
                continue
            raise
    raise DownloadFailed(
        f"no archive found (tried {len(missing)} branch(es))", details={"tried": missing}
    )
