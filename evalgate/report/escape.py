"""Making untrusted text (model output, reasons that quote it) inert in Markdown, XML and CI logs."""

from __future__ import annotations

import re

ELLIPSIS = "…"

# C0/C1 controls other than whitespace, DEL, and the bidi overrides/isolates that can make text display in
# a misleading order. Whitespace (including U+2028/U+2029 and the C0 separators) is collapsed separately.
_INVISIBLE = re.compile("[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f\u202a-\u202e\u2066-\u2069]")

# Entities for what HTML or GitHub tables would act on, backslash escapes for Markdown punctuation that
# could make links, emphasis, headings or math, and a zero-width space after @ so no one gets mentioned.
# Order matters: each replacement only introduces characters already handled above it.
_MARKDOWN = (
    ("\\", "\\\\"),
    ("&", "&amp;"),
    ("#", "\\#"),
    ("<", "&lt;"),
    (">", "&gt;"),
    ("|", "&#124;"),
    ("`", "&#96;"),
    ("*", "\\*"),
    ("_", "\\_"),
    ("[", "\\["),
    ("]", "\\]"),
    ("~", "\\~"),
    ("$", "\\$"),
    ("@", "@\u200b"),
)

_XML_ILLEGAL = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_URL_UNSAFE = {ord(ch): f"%{ord(ch):02X}" for ch in ' "<>()[]\\^`{|}'} | {cp: None for cp in range(0x20)}


def clean(text: str, limit: int | None = None) -> str:
    """One line of plain text: controls dropped, whitespace collapsed, cut to ``limit`` chars with '…'."""
    if limit is not None and limit <= 0:
        return ""
    raw = text if limit is None else text[: limit * 2 + 16]
    if _INVISIBLE.search(raw):
        raw = _INVISIBLE.sub("", raw)
    flat = " ".join(raw.split())
    if limit is None or (len(flat) <= limit and len(raw) == len(text)):
        return flat
    return flat[: limit - 1].rstrip() + ELLIPSIS


def escape_markdown(text: str) -> str:
    """Inline text GitHub shows literally: no HTML, table breaks, code, links, mentions, comment markers."""
    # Chained replace beats str.translate with multi-character targets by about five times.
    for char, replacement in _MARKDOWN:
        if char in text:
            text = text.replace(char, replacement)
    return text


def md(text: str, limit: int | None = None) -> str:
    """``clean`` then ``escape_markdown``: untrusted text ready for a table cell or a list item."""
    return escape_markdown(clean(text, limit))


_BACKTICKS = re.compile(r"`+")
# Controls other than tab and newline (NEL too: nothing should reach a reviewer as an invisible line break)
# and the bidi overrides/isolates; carriage returns become newlines first.
_LINE_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def code_literal(text: str, limit: int | None = None, *, table: bool = False) -> str:
    """One line of untrusted text as an inline code span GitHub shows literally, whatever it holds.

    The fence is one backtick longer than the longest run inside, padded when the text starts or ends
    with a backtick or a space; ``<!--`` is broken so it never opens a hidden comment, and in a table
    cell ``|`` is escaped (a pipe ends the cell even inside a code span). Empty text (CommonMark has no
    empty code span) reads *(empty)*.
    """
    text = clean(text, limit).replace("<!--", "<\u200b!--")
    if table:
        text = text.replace("|", "\\|")
    if not text:
        return "*(empty)*"
    fence = "`" * (max((len(run) for run in _BACKTICKS.findall(text)), default=0) + 1)
    pad = " " if text[0] in "` " or text[-1] in "` " else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _keep_lines(text: str) -> str:
    return _LINE_CONTROLS.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def _fence_lines(body: str, info: str) -> list[str]:
    longest = max((len(run) for run in _BACKTICKS.findall(body)), default=0)
    fence = "`" * max(3, longest + 1)
    return [f"{fence}{info}", *body.split("\n"), fence]


def fence_lines(text: str, info: str = "text") -> list[str]:
    """Untrusted multi-line text as the lines of a Markdown code block that nothing inside can close.

    The fence is one backtick longer than the longest backtick run in the text (at least three), so a
    `````` ``` `````` inside stays literal; inside a code block images, links, HTML and ``@mentions`` do
    not render. Controls and bidi overrides are dropped, lines (trailing empty ones too) are kept.
    """
    return _fence_lines(_keep_lines(text), info)


def fenced(text: str, limit: int | None = None) -> str:
    """``fence_lines`` as one string, cut to ``limit`` characters with '…', trailing newlines dropped."""
    body = _keep_lines(text)
    if limit is not None and len(body) > limit:
        body = body[: max(0, limit - 1)].rstrip() + ELLIPSIS
    return "\n".join(_fence_lines(body.rstrip("\n"), "text"))


def safe_url(url: str) -> str | None:
    """An http(s) URL with the characters that could end a Markdown link percent-encoded, else None."""
    url = url.strip()
    if not url.lower().startswith(("https://", "http://")):
        return None
    return url.translate(_URL_UNSAFE)


def xml_safe(text: str) -> str:
    """Text without the characters XML 1.0 forbids (most controls, lone surrogates, U+FFFE/U+FFFF)."""
    return _XML_ILLEGAL.sub("", text)


def log_safe(text: str, limit: int | None = None) -> str:
    """One line for a CI log: no ANSI or control codes, and no ``::`` a runner could read as a command."""
    return clean(text, limit).replace("::", ":\u200b:")
