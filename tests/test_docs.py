"""The documentation: README stays a short front door whose links lead somewhere, and the guide
(docs/mkdocs.yml, pages in docs/guide/) builds with MkDocs in strict mode, offline, so a broken
link or anchor fails the suite."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
GUIDE_CONFIG = ROOT / "docs" / "mkdocs.yml"
README_MAX_BYTES = 8192

# Markdown links and images, inline `[text](target "title")` and reference `[label]: target`.
INLINE_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_LINK = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*$", re.MULTILINE)
FENCED_CODE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`[^`\n]*`")
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def link_targets(markdown: str) -> list[str]:
    """Every link target written in the text; links shown as code are not links."""
    prose = INLINE_CODE.sub("", FENCED_CODE.sub("", markdown))
    return INLINE_LINK.findall(prose) + REFERENCE_LINK.findall(prose)


def relative_file(target: str) -> str | None:
    """The file part of a link that points into the repository, or None for a web address or an
    anchor in the same page."""
    if SCHEME.match(target) or target.startswith(("#", "//")):
        return None
    return target.split("#", 1)[0].split("?", 1)[0]


def build_guide(config: Path, site: Path) -> subprocess.CompletedProcess:
    """`mkdocs build --strict` with this interpreter's MkDocs. Every proxy points at a closed
    port, so a build that tried to download anything (fonts, a plugin's assets) would fail. Not
    with `-q`: it silences the warnings that --strict counts, and a broken link would pass."""
    dead_proxy = "http://127.0.0.1:9"
    env = {**os.environ, "HTTP_PROXY": dead_proxy, "HTTPS_PROXY": dead_proxy, "ALL_PROXY": dead_proxy,
           "http_proxy": dead_proxy, "https_proxy": dead_proxy, "all_proxy": dead_proxy,
           "NO_PROXY": "", "no_proxy": "",
           "NO_MKDOCS_2_WARNING": "1"}  # Material's notice about its future, not about this guide
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config),
                           "-d", str(site)], cwd=site.parent, env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=120)


def test_readme_is_a_short_front_door():
    size = len(README.read_bytes())
    assert size <= README_MAX_BYTES, f"README.md is {size} bytes; the rest belongs in docs/guide/"


@pytest.mark.parametrize("name", ["README.md", "CONTRIBUTING.md", "CHANGELOG.md"])
def test_every_relative_link_points_at_a_file_that_exists(name):
    page = ROOT / name
    targets = link_targets(page.read_text(encoding="utf-8"))
    files = [f for f in map(relative_file, targets) if f]
    missing = [f for f in files if not (page.parent / f).exists()]
    assert missing == [], f"{name} links to files that do not exist: {missing}"


def test_readme_links_into_the_guide():
    files = {relative_file(t) for t in link_targets(README.read_text(encoding="utf-8"))}
    guide_pages = {str(p.relative_to(ROOT)) for p in (ROOT / "docs" / "guide").glob("*.md")}
    assert "docs/guide/getting-started.md" in files and "docs/guide/workbench.md" in files
    unlisted = guide_pages - {"docs/guide/index.md"} - files
    assert unlisted == set(), f"README's list of the guide's pages misses {unlisted}"


def test_link_targets_finds_links_and_images_but_not_code():
    text = ("See [a](docs/a.md#part) and ![pic](img/p.svg \"title\"), [web](https://x.org), [top](#keys).\n"
            "`[not](a-link.md)`\n```\n[nor](this.md)\n```\n[ref]: other/b.md\n")
    targets = link_targets(text)
    assert sorted(filter(None, map(relative_file, targets))) == ["docs/a.md", "img/p.svg", "other/b.md"]


def test_the_guide_builds_in_strict_mode_offline(tmp_path):
    result = build_guide(GUIDE_CONFIG, tmp_path / "site")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "site" / "index.html").is_file()
    assert (tmp_path / "site" / "workbench" / "index.html").is_file()
    assert (tmp_path / "site" / "images" / "screenshot.svg").is_file()


def copy_of_the_guide(tmp_path: Path) -> Path:
    docs = tmp_path / "docs"
    shutil.copytree(GUIDE_CONFIG.parent, docs, ignore=shutil.ignore_patterns("site"))
    return docs


@pytest.mark.parametrize("broken, named", [
    ("[a page that is not there](no-such-page.md)", "no-such-page.md"),
    ("[a heading that is not there](workbench.md#no-such-heading)", "no-such-heading"),
    ("![a picture that is not there](images/no-such.svg)", "no-such.svg"),
])
def test_a_broken_link_in_the_guide_fails_the_build(tmp_path, broken, named):
    """The check above can fail: the same guide, with one broken link added, does not build."""
    docs = copy_of_the_guide(tmp_path)
    with open(docs / "guide" / "getting-started.md", "a", encoding="utf-8") as page:
        page.write(f"\n{broken}\n")
    result = build_guide(docs / "mkdocs.yml", tmp_path / "site")
    assert result.returncode != 0
    assert named in result.stdout + result.stderr


def test_a_page_left_out_of_the_nav_fails_the_build(tmp_path):
    docs = copy_of_the_guide(tmp_path)
    (docs / "guide" / "forgotten.md").write_text("# A page nobody can reach\n", encoding="utf-8")
    result = build_guide(docs / "mkdocs.yml", tmp_path / "site")
    assert result.returncode != 0
    assert "forgotten.md" in result.stdout + result.stderr
