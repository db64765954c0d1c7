"""Build GitHub URLs from a repo URL and the configured GitHub hosts. Pure.

The registry names repos by web URL (``https://github.com/owner/repo``). Owner
and name are its last two path segments; a trailing ``.git`` is removed only as
a suffix (LEDMatrix's ``replace('.git', '')`` corrupted names like
``x.github-plugins``).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from ledmatrix_mqtt.core.config_model import GithubConfig


@dataclass(frozen=True)
class RepoRef:
    owner: str
    name: str

    @property
    def slug(self) -> str:
        return f"{self.owner}/{self.name}"


def parse_repo_url(url: str) -> RepoRef | None:
    """``https://host/prefix/owner/repo(.git)(/)`` -> RepoRef; None if not of that shape."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    segments = [s for s in parts.path.split("/") if s]
    if len(segments) < 2:
        return None
    owner, name = segments[-2], segments[-1]
    if name.endswith(".git"):
        name = name[: -len(".git")]
    if not owner or not name or owner in (".", "..") or name in (".", ".."):
        return None
    return RepoRef(owner, name)


@dataclass(frozen=True)
class GithubUrls:
    """The configured GitHub (or GitHub Enterprise, or test server) base URLs."""

    web_url: str
    api_url: str
    raw_url: str = ""

    @classmethod
    def from_config(cls, github: GithubConfig) -> GithubUrls:
        """The URLs of ``store.github`` (trailing slashes dropped)."""
        return cls(github.web_url.rstrip("/"), github.api_url.rstrip("/"), github.raw_url)

    def archive(self, repo: RepoRef, branch: str) -> str:
        """ZIP of a branch head, as served (or redirected) by the web host."""
        return f"{self.web_url}/{repo.slug}/archive/refs/heads/{quote(branch, safe='/')}.zip"

    def tag_archive(self, repo: RepoRef, tag: str) -> str:
        """ZIP of a tag, as served (or redirected) by the web host."""
        return f"{self.web_url}/{repo.slug}/archive/refs/tags/{quote(tag, safe='/')}.zip"

    def repo_api(self, repo: RepoRef) -> str:
        return f"{self.api_url}/repos/{repo.slug}"
