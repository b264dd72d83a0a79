"""The documentation stays true: every relative link of the hand-written pages points at a file that exists and,
with an anchor, at a heading that exists (GitHub's slugs); DECISIONS stays a page of current decisions."""
import re

import pytest

from helpers import REPO

PAGES = sorted([REPO / "README.md", REPO / "CHANGELOG.md", *(REPO / "docs").glob("*.md"),
                *(REPO / "bench").glob("*.md"), *(REPO / "experiments").rglob("*.md")])
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    return re.sub(r"\s", "-", re.sub(r"[^\w\s-]", "", text))


def anchors(page) -> set:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)  # a "# comment" in a code block is no heading
    return {slug(m.group(1)) for m in re.finditer(r"^#+\s+(.*)$", text, flags=re.M)}


def broken_links(page) -> list:
    broken = []
    for target in LINK.findall(page.read_text()):
        if re.match(r"[a-z]+:", target):  # http:, mailto:
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target} (no heading #{anchor})")
    return broken


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_resolves(page):
    assert not broken_links(page)


def test_the_link_check_sees_a_broken_link_and_anchor(tmp_path):
    (tmp_path / "other.md").write_text("# A heading, with `code`\n")
    page = tmp_path / "page.md"
    page.write_text("[ok](other.md#a-heading-with-code) [gone](gone.md) [bad](other.md#nowhere) [web](https://x.org)")
    assert broken_links(page) == ["gone.md (no such file)", "other.md#nowhere (no heading #nowhere)"]


def test_decisions_is_current_decisions_not_a_log():
    lines = (REPO / "docs" / "DECISIONS.md").read_text().splitlines()
    assert len(lines) <= 500, "move measurements to experiments/decisions_log.md"
