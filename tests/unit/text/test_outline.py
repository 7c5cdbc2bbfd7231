"""outline finds each format's headings and title; HeadingTrail and with_context use them."""

from __future__ import annotations

import pytest

from shoal.text import Heading, HeadingTrail, Outline, outline, with_context


def heads(result: Outline) -> list[tuple[int, str]]:
    return [(h.level, h.text) for h in result.headings]


def test_markdown_atx_and_setext_headings_skip_code_fences() -> None:
    text = (
        "Intro line\n\n"
        "## Install ##\n\n"
        "```bash\n# a shell comment, not a heading\n```\n\n"
        "From source\n-----------\n\n"
        "~~~\nStill code\n===\n~~~\n\n"
        "Usage *and* [options](#opts)\n============================\n\n"
        "    # indented code\n\n"
        "- a list item\n---\n"
    )
    found = outline(text, "markdown")
    assert heads(found) == [(2, "Install"), (2, "From source"), (1, "Usage and options")]
    assert found.title is None  # the level-1 heading is not the first one
    assert [h.offset for h in found.headings] == [
        text.index("## Install"),
        text.index("From source"),
        text.index("Usage *and*"),
    ]


def test_a_markdown_title_is_the_front_matter_or_the_one_top_heading() -> None:
    text = "---\ntitle: 'Shoal Guide'\nlayout: page\n---\n# Intro\n"
    assert outline(text, "markdown") == Outline(
        title="Shoal Guide", headings=[Heading(text.index("# Intro"), 1, "Intro")]
    )
    only = outline("# Shoal\n\ntext\n\n## Install\n\n### From source\n", "markdown")
    assert only.title == "Shoal" and heads(only) == [(2, "Install"), (3, "From source")]
    several = outline("# One\n\n# Two\n", "markdown")
    assert several.title is None and heads(several) == [(1, "One"), (1, "Two")]


def test_a_title_the_loader_found_wins_and_is_not_repeated() -> None:
    found = outline("# The Page\n\n## Part\n", "html", title="The page")
    assert found == Outline(title="The page", headings=[Heading(12, 2, "Part")])
    other = outline("# Cats\n", "html", title="Cats | My Site")
    assert other.title == "Cats | My Site" and heads(other) == [(1, "Cats")]


def test_converted_text_has_no_setext_headings() -> None:
    # HTML, DOCX, EPUB and man page text marks headings with `#` only.
    assert outline("A paragraph\n---\n## Real\n## Other\n", "html").headings == [
        Heading(16, 2, "Real"),
        Heading(24, 2, "Other"),
    ]
    assert outline("# A\n\n## B\n", "man") == Outline(title="A", headings=[Heading(5, 2, "B")])


def test_rst_levels_follow_the_order_adornments_are_first_used() -> None:
    text = (
        "=====\nGuide\n=====\n\n"
        "Install\n-------\n\nText.\n\n"
        "From source\n~~~~~~~~~~~\n\n::\n\n    Literal\n    -------\n\n"
        "Usage\n-----\n\n"
        "A paragraph line\nthat continues\n--------------\n\n"
        "----\n\n"
        "End.\n"
    )
    found = outline(text, "rst")
    assert found.title == "Guide"  # the only title in its style: docutils' document title
    assert heads(found) == [(2, "Install"), (3, "From source"), (2, "Usage")]
    assert found.headings[0].offset == text.index("Install")


def test_rst_with_several_top_sections_has_no_title() -> None:
    found = outline("One\n===\n\nTwo\n===\n\nSub\n---\n", "rst")
    assert found.title is None and heads(found) == [(1, "One"), (1, "Two"), (2, "Sub")]


def test_asciidoc_headings_outside_delimited_blocks() -> None:
    text = "= The Book\n\n== Chapter\n\n----\n== in a listing\n----\n\n=== Section\n// == comment\n"
    found = outline(text, "asciidoc")
    assert found.title == "The Book" and heads(found) == [(2, "Chapter"), (3, "Section")]


def test_latex_title_and_sections_outside_comments() -> None:
    text = (
        "\\title{A \\emph{Study}}\n"
        "% \\section{Commented out}\n"
        "\\section{Introduction}\ntext\n"
        "\\subsection*[short]{Related {work}}\n"
        "\\chapter{Odd}\n"
    )
    found = outline(text, "tex")
    assert found.title == "A Study"
    assert heads(found) == [(3, "Introduction"), (4, "Related work"), (2, "Odd")]


@pytest.mark.parametrize("kind", ["text", "code", "csv", "pdf", "email"])
def test_kinds_without_headings_keep_only_a_given_title(kind: str) -> None:
    assert outline("# Not a heading here\n", kind, title="T") == Outline(title="T")


def test_a_later_section_never_promotes_a_heading_to_title() -> None:
    found = outline("# Part Two\n\ntext\n", "markdown", promote=False)
    assert found == Outline(headings=[Heading(0, 1, "Part Two")])


def test_the_heading_trail_follows_levels_and_carries_across_sections() -> None:
    trail = HeadingTrail()
    trail.start([Heading(0, 1, "A"), Heading(10, 2, "A.1"), Heading(20, 3, "A.1.x")])
    assert trail.at(0) == ["A"]
    assert trail.at(15) == ["A", "A.1"]
    assert trail.at(25) == ["A", "A.1", "A.1.x"]
    trail.start([Heading(5, 2, "A.2")])  # the next section of the same file
    assert trail.at(0) == ["A", "A.1", "A.1.x"]
    assert trail.at(5) == ["A", "A.2"]


def test_with_context_prefixes_title_and_headings() -> None:
    chunk = "Clone the repository."
    metadata = {"title": "Shoal", "headings": ["Install", "From source"]}
    assert with_context(chunk, metadata) == "Shoal > Install > From source\n\n" + chunk
    assert with_context(chunk, {"headings": ["Install"]}) == "Install\n\n" + chunk
    assert with_context(chunk, {"title": "Install", "headings": ["install", "Pip"]}) == (
        "Install > Pip\n\n" + chunk
    )
    assert with_context(chunk, {"source": "x.txt", "title": "  "}) == chunk
    assert with_context(chunk, {"title": 3, "headings": "not a list"}) == chunk


def test_with_context_shrinks_to_fit_the_model() -> None:
    chunk = "body"
    metadata = {"title": "T", "headings": ["A", "B", "C"]}
    assert with_context(chunk, metadata, fits=lambda t: len(t) <= 50) == "T > A > B > C\n\nbody"
    assert with_context(chunk, metadata, fits=lambda t: len(t) <= 11) == "T > C\n\nbody"
    assert with_context(chunk, metadata, fits=lambda t: len(t) <= 5) == "body"


def test_with_context_shortens_long_headings() -> None:
    metadata = {"title": "T" * 500, "headings": [f"H{i} " * 30 for i in range(8)]}
    context = with_context("body", metadata).split("\n\n")[0]
    parts = context.split(" > ")
    assert len(context) <= 300 + 2 * 100
    assert parts[0] == "T" * 99 + "…" and parts[-1].startswith("H7")
