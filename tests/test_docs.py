"""The pages link to each other and to the code: every relative link resolves to a file, every
#anchor to a heading of that file (GitHub's slugs), and every repository path written in
backticks exists — so moving a module or renaming a section cannot leave a dead reference."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted([ROOT / "README.md", ROOT / "benchmarks" / "README.md", *(ROOT / "docs").glob("*.md")])
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
CODE_PATH = re.compile(r"`((?:glacier_edge|benchmarks|tests|docs|\.ci)/[\w./-]+\.(?:py|md|sh|json|txt))`")


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    slugs, fenced = set(), False
    for line in page.read_text().splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and line.startswith("#"):
            slugs.add(github_slug(line.lstrip("#")))
    return slugs


def test_slugs_follow_github() -> None:
    assert github_slug('What "melt" is — and what it is not') == "what-melt-is--and-what-it-is-not"
    assert github_slug("Station mode (`python benchmarks/station.py --model B`, measured 2026-11-27)") == (
        "station-mode-python-benchmarksstationpy---model-b-measured-2026-11-27")


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_link_and_path_resolves(page: Path) -> None:
    dead = []
    for target in LINK.findall(page.read_text()):
        if re.match(r"[a-z]+:", target):
            continue  # http(s), mailto: not checked offline
        path_part, _, anchor = target.partition("#")
        resolved = (page.parent / path_part).resolve() if path_part else page
        if not resolved.exists():
            dead.append(f"{target}: no such file")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            dead.append(f"{target}: no heading with that anchor in {resolved.relative_to(ROOT)}")
    for path in CODE_PATH.findall(page.read_text()):
        if not (ROOT / path).exists():
            dead.append(f"`{path}`: no such file in the repository")
    assert not dead, dead


def test_the_front_page_fits_on_a_few_screens() -> None:
    assert len((ROOT / "README.md").read_text().splitlines()) <= 100
