"""`bot.mrkdwn`: the one escape, the desk's own markup, Markdown → mrkdwn, splitting."""

from __future__ import annotations

import pytest

from bot.mrkdwn import (
    STREAM_JOINER,
    TRIMMED_NOTE,
    Mrkdwn,
    channel_mention,
    date,
    escape,
    group_mention,
    link,
    links_in,
    mention,
    quotes_kept,
    show_targets,
    split_message,
    to_mrkdwn,
    truncate,
)
from tests.slack_markup import HOSTILE, HOSTILE_TEXT

# ---- the escape ------------------------------------------------------------------------------


@pytest.mark.parametrize("token", HOSTILE)
def test_escape_makes_every_control_sequence_text(token: str) -> None:
    escaped = escape(f"a {token} b")
    assert "<" not in escaped and ">" not in escaped
    assert escaped == "a " + token.replace("<", "&lt;").replace(">", "&gt;") + " b"


def test_escape_ampersands_and_entities() -> None:
    assert escape("AT&T & R&D") == "AT&amp;T &amp; R&amp;D"
    # Slack sends what users type already escaped ("a < b" arrives as "a &lt; b"): kept, so
    # it reads "a < b", not "a &lt; b"; an entity is only ever text.
    assert escape("a &lt; b &amp; c &gt; d") == "a &lt; b &amp; c &gt; d"
    assert escape("&lt;!channel&gt;") == "&lt;!channel&gt;"
    assert escape("&nbsp; &#60;") == "&amp;nbsp; &amp;#60;"


def test_escape_leaves_the_desks_markup_alone() -> None:
    made = Mrkdwn("<@U_ALICE> *bold*")
    assert escape(made) is made
    assert escape("<@U_ALICE> *bold*") == "&lt;@U_ALICE&gt; *bold*"


def test_format_escapes_every_value_but_the_desks_markup() -> None:
    text = Mrkdwn("{} asked: {reason} ({n:>3})").format(
        mention("U_ALICE"), reason="<!channel> now", n=7
    )
    assert text == "<@U_ALICE> asked: &lt;!channel&gt; now (  7)"
    assert isinstance(text, Mrkdwn)
    assert Mrkdwn("{!r}").format("<!here>") == "'&lt;!here&gt;'"


def test_adding_and_joining_escape_plain_text() -> None:
    assert Mrkdwn("*a*") + "<!here>" == "*a*&lt;!here&gt;"
    assert "<!here>" + Mrkdwn("*a*") == "&lt;!here&gt;*a*"
    assert isinstance("x" + Mrkdwn("y"), Mrkdwn)
    joined = Mrkdwn("\n").join([mention("U_ALICE"), "<@U_BOB>"])
    assert joined == "<@U_ALICE>\n&lt;@U_BOB&gt;"
    # What str does (slicing, strip) gives a plain str: escaped again if sent, never live.
    assert not isinstance(Mrkdwn("<@U_A>")[:3], Mrkdwn)


# ---- the desk's own markup -------------------------------------------------------------------


def test_builders_make_live_markup_only_from_real_ids() -> None:
    assert mention("U0123ABC") == "<@U0123ABC>"
    assert mention("W0123") == "<@W0123>"
    assert channel_mention("C0123") == "<#C0123>"
    assert group_mention("S0123") == "<!subteam^S0123>"
    # Anything else is shown as text.
    assert mention("U1> <!channel") == "U1&gt; &lt;!channel"
    assert channel_mention("C1|x") == "C1|x"
    assert group_mention("here>") == "here&gt;"
    assert mention("") == ""


def test_link_and_date() -> None:
    assert link("https://x.slack.com/archives/C1/p1?a=1&b=2", "Open") == (
        "<https://x.slack.com/archives/C1/p1?a=1&amp;b=2|Open>"
    )
    assert link("https://x.example/", "a <b>|c") == "<https://x.example/|a &lt;b&gt;¦c>"
    # Not an http(s) address (or one with markup in it): shown as text.
    assert link("javascript:alert(1)", "Open") == "Open (javascript:alert(1))"
    assert link("https://x.example/|<!here>", "Open") == "Open (https://x.example/|&lt;!here&gt;)"
    assert date(1700000000.7, "12") == "<!date^1700000000^{date_short_pretty} at {time}|12>"
    assert date(1, "<!here>|x") == "<!date^1^{date_short_pretty} at {time}|&lt;!here&gt;¦x>"


def test_truncate_never_cuts_an_entity_or_a_sequence_in_two() -> None:
    assert truncate(Mrkdwn("short"), 10) == "short"
    assert truncate(escape("ab <!channel>"), 6) == "ab …"  # "ab &lt" would show "&lt"
    assert truncate(Mrkdwn("hi <@U_ALICE> there"), 8) == "hi …"
    assert truncate(Mrkdwn("x" * 20), 10) == "x" * 9 + "…"
    assert len(truncate(escape("&" * 100), 50)) <= 50


# ---- Markdown to mrkdwn ----------------------------------------------------------------------


def test_headings_bold_italic_strike_lists_quotes() -> None:
    markdown = (
        "# Title\n### Sub ###\n"
        "**bold** and __bold__, *italic*, ~~gone~~\n"
        "- one\n* two\n  + nested\n"
        "> quoted\n"
        "2 * 3 * 4 stays"
    )
    assert to_mrkdwn(markdown) == (
        "*Title*\n*Sub*\n"
        "*bold* and *bold*, _italic_, ~gone~\n"
        "• one\n• two\n  • nested\n"
        "> quoted\n"
        "2 * 3 * 4 stays"
    )


def test_links_live_in_the_askers_thread_and_shown_elsewhere() -> None:
    markdown = "See [the guide](https://docs.example/a?x=1&y=2) and [https://b.example](https://b.example)."
    assert to_mrkdwn(markdown) == (
        "See <https://docs.example/a?x=1&amp;y=2|the guide> and <https://b.example|https://b.example>."
    )
    assert to_mrkdwn(markdown, links="shown") == (
        "See the guide (https://docs.example/a?x=1&amp;y=2) and https://b.example."
    )
    # A label cannot carry markup, and a pipe cannot move the label.
    assert to_mrkdwn("[<!here>](https://a.example/|x)") == "<https://a.example/%7Cx|&lt;!here&gt;>"
    assert to_mrkdwn("[x](javascript:alert(1))") == "[x](javascript:alert(1))"


def test_a_channels_answer_shows_where_its_links_go() -> None:
    """Only a DM with the asker gets live links: in a channel a label (the asker's own text,
    echoed in the desk's voice) must not hide its target from everyone reading the thread."""
    assert links_in("D123") == "live" and links_in("C123") == "shown"
    phish = "Filed: The export page [Open your invoice](https://evil.example/phish) is blank"
    assert show_targets(phish) == (
        "Filed: The export page Open your invoice (https://evil.example/phish) is blank"
    )
    assert show_targets("[https://a.example](https://a.example)") == "https://a.example"
    # a link whose parts come in two pieces of a stream never forms
    assert show_targets("see [Open](") == f"see [Open]{STREAM_JOINER}("
    assert "](" not in show_targets("[a](b) [c](javascript:x)")


def test_a_line_starting_with_a_quote_mark_stays_a_quote_once_escaped() -> None:
    escaped = escape("From the help centre:\n> 1. Open <!here>\n> 2. Done & dusted")
    assert quotes_kept(escaped) == (
        "From the help centre:\n> 1. Open &lt;!here&gt;\n> 2. Done &amp; dusted"
    )
    assert quotes_kept(escape("> first line")) == "> first line"
    assert quotes_kept(escape("> mid-line piece"), at_line_start=False) == "&gt; mid-line piece"


def test_code_is_kept_as_code_and_escaped_too() -> None:
    markdown = f"Run `a <b> && **c**` then:\n```\n{HOSTILE_TEXT}\n**not bold** # no heading\n```"
    converted = to_mrkdwn(markdown)
    assert converted == (
        "Run `a &lt;b&gt; &amp;&amp; **c**` then:\n```\n"
        + HOSTILE_TEXT.replace("<", "&lt;").replace(">", "&gt;")
        + "\n**not bold** # no heading\n```"
    )


@pytest.mark.parametrize("token", HOSTILE)
def test_no_control_sequence_survives_conversion(token: str) -> None:
    for markdown in (
        token,
        f"`{token}`",
        f"```\n{token}\n```",
        f"**{token}**",
        f"# {token}",
        f"- {token}",
        f"> {token}",
        f"[{token}](https://a.example)",
    ):
        for links in ("live", "shown"):
            assert token not in to_mrkdwn(markdown, links=links)  # type: ignore[arg-type]


def test_placeholders_cannot_be_forged() -> None:
    # The converter parks code under NUL-delimited numbers; text with NULs cannot reach them.
    assert to_mrkdwn("\x000\x00 and \x0099\x00 `x`") == "0 and 99 `x`"


# ---- splitting -------------------------------------------------------------------------------


def test_split_message_keeps_parts_within_the_limit() -> None:
    text = Mrkdwn("\n\n".join(f"para {i} " + "word " * 30 for i in range(20)))
    parts = split_message(text, limit=400, max_parts=50)
    assert all(len(part) <= 400 and isinstance(part, Mrkdwn) for part in parts)
    assert " ".join(" ".join(parts).split()) == " ".join(text.split())
    trimmed = split_message(text, limit=400, max_parts=2)
    assert len(trimmed) == 2 and trimmed[-1].endswith(TRIMMED_NOTE)
    assert split_message(Mrkdwn("")) == [""]


def test_split_and_truncate_escape_a_plain_str() -> None:
    assert split_message("<!here>") == ["&lt;!here&gt;"]  # type: ignore[arg-type]
    assert truncate("<!here>", 50) == "&lt;!here&gt;"  # type: ignore[arg-type]


def test_split_never_creates_a_control_sequence() -> None:
    text = escape("<!here> " * 500)
    for part in split_message(text, limit=301, max_parts=100):
        assert "<" not in part and ">" not in part
