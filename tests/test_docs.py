"""The docs stay true: every flag the command line prints is described under its command in
docs/cli.md, every relative link of README.md and docs/*.md resolves (files and #anchors), and
the README stays short enough for a newcomer."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from sweeplake.cli import build_parser
from tests.conftest import REPO, sweeplake

README_LIMIT = 12_000
PAGES = sorted((REPO / "docs").glob("*.md"))
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)


def commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> dict[tuple[str, ...], argparse.ArgumentParser]:
    """Every command and subcommand (`spool ship`), found from the parser as `--help` finds them."""
    found = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found[(*path, name)] = sub
                found.update(commands(sub, (*path, name)))
    return found


COMMANDS = commands(build_parser())


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lowercase, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]|\[|\]\([^)]*\)", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def headings(text: str) -> list[tuple[int, str]]:
    """(level, title) of every markdown heading outside code blocks."""
    prose = FENCE.sub("", text)
    return [(len(m[1]), m[2]) for m in re.finditer(r"^(#{1,6}) +(.+?) *#*$", prose, re.M)]


def anchors(text: str) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for _, title in headings(text):
        base = slug(title)
        n = seen.get(base, 0)
        out.add(base if n == 0 else f"{base}-{n}")
        seen[base] = n + 1
    return out


def section(text: str, title: str) -> str:
    """The text under the heading `title` up to the next heading of its level or above."""
    lines = text.splitlines()
    levels = {t: lvl for lvl, t in headings(text)}
    assert title in levels, f"docs/cli.md has no heading {title!r}"
    heading = re.compile(rf"#+ +{re.escape(title)}")
    start = next(i for i, line in enumerate(lines) if heading.fullmatch(line))
    end = next(
        (
            i
            for i in range(start + 1, len(lines))
            if (m := re.match(r"(#+) ", lines[i])) and len(m[1]) <= levels[title]
        ),
        len(lines),
    )
    return "\n".join(lines[start:end])


def broken_links(page: Path) -> list[str]:
    """Every relative link of the page whose file, or #anchor in it, does not exist."""
    text = page.read_text()
    bad = []
    for target in LINK.findall(FENCE.sub("", text)):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        where = (page.parent / path).resolve() if path else page
        if not where.exists():
            bad.append(f"{target}: no such file")
        elif anchor and where.suffix == ".md" and anchor not in anchors(where.read_text()):
            bad.append(f"{target}: no heading with that anchor in {where.name}")
    return bad


def test_the_readme_is_short_enough_for_a_newcomer() -> None:
    size = len((REPO / "README.md").read_bytes())
    assert size <= README_LIMIT, f"README.md is {size:,} bytes, over {README_LIMIT:,}"


def test_the_docs_pages_exist() -> None:
    names = {page.name for page in PAGES}
    for name in ("cli.md", "lake.md", "aws.md", "operations.md", "benchmarks.md", "search.md"):
        assert name in names


@pytest.mark.parametrize("page", [REPO / "README.md", *PAGES], ids=lambda p: p.name)
def test_every_relative_link_resolves(page: Path) -> None:
    assert broken_links(page) == []


def test_the_link_check_finds_a_missing_file_and_a_missing_anchor(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Other page\n\n## A section\n")
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n[ok](other.md#a-section) [self](#page) [web](https://example.org/x)\n"
        "[gone](missing.md) [no anchor](other.md#nothing) ![img](pic.png)\n"
        "```\n[in code](not-checked.md)\n```\n"
    )
    assert broken_links(page) == [
        "missing.md: no such file",
        "other.md#nothing: no heading with that anchor in other.md",
        "pic.png: no such file",
    ]


def test_slugs_are_githubs() -> None:
    assert slug("3. The leaderboard") == "3-the-leaderboard"
    assert slug("Search quality: `tpe` against Optuna") == "search-quality-tpe-against-optuna"
    assert slug("Per-trial scores: computed once") == "per-trial-scores-computed-once"


def test_the_top_level_flags_are_in_docs_cli_md() -> None:
    printed = sweeplake("--help")
    assert printed.returncode == 0, printed.stderr
    text = (REPO / "docs" / "cli.md").read_text()
    flags = set(FLAG.findall(printed.stdout)) - {"--help"}
    assert "--version" in flags
    assert [flag for flag in sorted(flags) if flag not in text] == []


@pytest.mark.parametrize("command", sorted(COMMANDS), ids=" ".join)
def test_every_flag_the_help_prints_is_in_docs_cli_md(command: tuple[str, ...]) -> None:
    """The flags as `sweeplake COMMAND --help` prints them, each found under the command's own
    heading, `sweeplake COMMAND`, in docs/cli.md."""
    printed = sweeplake(*command, "--help")
    assert printed.returncode == 0, printed.stderr
    flags = set(FLAG.findall(printed.stdout)) - {"--help"}
    declared = {
        option
        for action in COMMANDS[command]._actions
        for option in action.option_strings
        if option.startswith("--") and option != "--help"
    }
    assert declared <= flags, f"--help leaves out {declared - flags}"
    documented = section((REPO / "docs" / "cli.md").read_text(), "sweeplake " + " ".join(command))
    missing = sorted(flag for flag in flags if not re.search(rf"{flag}(?![\w-])", documented))
    assert missing == [], f"docs/cli.md, under `sweeplake {' '.join(command)}`, lacks {missing}"
