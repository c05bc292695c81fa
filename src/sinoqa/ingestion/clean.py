"""Pure text cleaning: remove the noise that web and PDF captures carry, keep every real paragraph.

Each rule is generic (a kind of noise, not a particular file): HTML tags and Markdown markup,
paywall and subscription prompts, share widgets and other page chrome, image captions and
credits, copyright lines, bylines and datelines, page headers/footers repeated through the
text (re-joining the sentence they cut in two), and paragraphs repeated later in the article.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from dataclasses import dataclass

#: Bump when a rule changes what text comes out: the index then builds a new collection
#: instead of mixing chunks cleaned two different ways.
CLEANING_VERSION = 2

_SCRIPT_OR_STYLE = re.compile(r"<(script|style)\b[^>]*>.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_HTML_TAG = re.compile(r"</?[a-zA-Z][a-zA-Z0-9-]*(?:\s[^<>]*)?/?>")
_HTML_BREAK = re.compile(r"<(?:br|/p|/div|/li|/h[1-6])\b[^>]*>", re.IGNORECASE)

_MD_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!$|>~])")
_MD_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
_MD_LINK = re.compile(r"\[([^\]]+)\]\((?:[^()]|\([^)]*\))*\)")
_MD_EMPHASIS = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_MD_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+")
_MD_RULE = re.compile(r"^\s*(?:[-*_]\s*){3,}$")
_BULLET = re.compile(r"^\s*(?:[•·▪◦‣*+-]|\d{1,2}[.)])\s+")
# A line that is only a marker or a number ("+", "0."): kept, but never joined to the next
# line, which would make a list item of it ("+ text") that cleaning again would strip.
_BARE_MARKER = re.compile(r"^(?:[•·▪◦‣*+-]|\d{1,2}[.)])$")

_GUID = re.compile(r"^[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}$")
_BARE_URL = re.compile(r"^<?https?://\S+>?$")
_EMPTY_LABEL = re.compile(r"^[A-Z][\w ]{0,24}:$")
_RELATIVE_TIME = re.compile(
    r"\s*\b(?:updated\s+)?\d{1,3}\s+(?:seconds?|minutes?|mins?|hours?|hrs?|days?)\s+ago\s*$",
    re.IGNORECASE,
)
_PAYWALL = re.compile(
    r"^subscribe\b|\bsubscribe (?:to|for|now|today)\b|^ready to subscribe\b"
    r"|\bfree articles?\b.*\b(?:left|remaining|limit|month)\b|\bfree article limit\b"
    r"|\b(?:available|reserved) (?:only )?(?:to|for) subscribers\b"
    r"|\bonly available to subscribers\b"
    r"|^(?:sign|log) in\b|^already (?:a subscriber|have an account)\b|\bunlimited access\b"
    r"|^(?:get|enjoy) \d+ (?:more )?free\b|\bexclusive offers\b",
    re.IGNORECASE,
)
_WIDGET = re.compile(
    r"^(?:share(?: (?:this|the) (?:page|article|story))?|share (?:on|via) \w+|tweet|email|print"
    r"|copy link|table of contents|click to (?:resize|enlarge|expand|view)|advertisement"
    r"|most (?:recent|read|popular)(?: by)?|related (?:articles|stories|topics)|read more"
    r"|see also|listen to (?:this )?article.*|let'?s get started\W*|\S+ (?:logo|app))$",
    re.IGNORECASE,
)
_CAPTION = re.compile(
    r"©|^(?:photo|photograph|image|picture|credit)s?(?: credit)?\s*:"
    r"|\((?:photo|image|picture)s?\b[^)]*\)\s*$",
    re.IGNORECASE,
)
_COPYRIGHT = re.compile(r"^copyright\b|\ball rights reserved\b", re.IGNORECASE)
_PDF_NOTICE = re.compile(
    r"\b(?:pdf|document)\b.*\b(?:auto-?generated|automatically generated)\b", re.IGNORECASE
)
_BYLINE = re.compile(r"^(?:[Ww]ritten )?[Bb]y\s+[A-Z][\w.'’-]*(?:\s+[A-Z][\w.'’-]*){0,5}$")
_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
_DATELINE = re.compile(
    rf"^[^.!?]{{0,60}}?,?\s*(?:{_MONTH}\s+\d{{1,2}},?\s+\d{{4}}|\d{{1,2}}\s+{_MONTH}\s+\d{{4}}"
    rf"|\d{{4}}-\d{{2}}-\d{{2}})$",
    re.IGNORECASE,
)
_BREADCRUMB = re.compile(r"^[^.!?|]{1,40}\s\|\s[^.!?]{1,80}$")

_SENTENCE_END = (".", "!", "?", ":", ";", '"', "”", "’", "'", ")", "]")
_QUOTES = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "–": "-", "—": "-"})

#: Short lines repeated at least this often are page furniture (running headers, tag lists).
_FURNITURE_REPEATS = 2
_FURNITURE_MAX_CHARS = 120
#: Paragraphs shorter than this are never removed as duplicates.
_DEDUPE_MIN_CHARS = 30


@dataclass(frozen=True)
class _Line:
    text: str
    block: int  # index of the blank-line-separated block the line came from
    bullet: bool = False  # a list item always starts a paragraph of its own


def strip_markup(text: str) -> str:
    """HTML tags (scripts and styles with their content), entities and Markdown markup."""
    text = _HTML_COMMENT.sub("", _SCRIPT_OR_STYLE.sub("", text))
    text = _HTML_BREAK.sub("\n", text)
    text = html.unescape(_HTML_TAG.sub("", text))
    text = _MD_IMAGE.sub("", text)
    text = _MD_LINK.sub(r"\1", text)
    text = _MD_EMPHASIS.sub(r"\2", text)
    text = _MD_ESCAPE.sub(r"\1", text)
    return text


def _key(text: str) -> str:
    """Comparison key: case, quotes, dashes, spacing and edge punctuation do not matter."""
    return " ".join(text.translate(_QUOTES).casefold().split()).strip(" .,:;!?*#-")


def _is_noise(line: str, title_key: str, author_key: str) -> bool:
    key = _key(line)
    if not key:
        return True
    if title_key and key == title_key:
        return True
    if author_key and (key == author_key or (key.startswith(author_key) and len(line) <= 80)):
        return True
    short = len(line) <= 200
    return bool(
        _GUID.match(line)
        or _BARE_URL.match(line)
        or _EMPTY_LABEL.match(line)
        or _MD_RULE.match(line)
        or _PDF_NOTICE.search(line)
        or (short and _PAYWALL.search(line))
        or (len(line) <= 60 and _WIDGET.match(line))
        or (len(line) <= 400 and _CAPTION.search(line))
        or (short and _COPYRIGHT.search(line))
        or (len(line) <= 80 and _BYLINE.match(line))
        or (len(line) <= 80 and _DATELINE.match(line))
        or _BREADCRUMB.match(line)
    )


def _split_lines(text: str) -> list[_Line]:
    lines: list[_Line] = []
    for block_no, block in enumerate(re.split(r"\n\s*\n", text)):
        for raw in block.splitlines():
            line = _MD_HEADING.sub("", raw)
            bullet = _BULLET.match(line) is not None
            while marker := _BULLET.match(line):  # "- - item" is one item too
                line = line[marker.end() :]
            line = _RELATIVE_TIME.sub("", line)
            line = " ".join(line.split())
            if line:
                lines.append(_Line(line, block_no, bullet=bullet))
    return lines


def _drop_furniture(lines: list[_Line]) -> list[_Line]:
    """Remove short non-sentence lines that recur: running headers, footers, tag lists."""
    counts = Counter(_key(line.text) for line in lines)

    def is_furniture(line: _Line) -> bool:
        return (
            counts[_key(line.text)] >= _FURNITURE_REPEATS
            and len(line.text) <= _FURNITURE_MAX_CHARS
            and not line.text.endswith(".")
        )

    return [line for line in lines if not is_furniture(line)]


def _continues(previous: str, line: _Line, previous_block: int) -> bool:
    """Whether ``line`` continues the sentence ``previous`` left open."""
    if line.bullet or previous.endswith(_SENTENCE_END) or _BARE_MARKER.match(previous):
        return False
    if line.text[0].islower():
        return True  # a sentence cut by a removed header, or a wrapped PDF line
    # Within one block, a long unterminated line is a hard-wrapped paragraph (PDF text).
    return line.block == previous_block and len(previous) >= 60


def _join_paragraphs(lines: list[_Line]) -> list[str]:
    paragraphs: list[str] = []
    last_block = -1
    for line in lines:
        if paragraphs and _continues(paragraphs[-1], line, last_block):
            paragraphs[-1] = paragraphs[-1] + " " + line.text
        else:
            paragraphs.append(line.text)
        last_block = line.block
    return paragraphs


def _drop_duplicates(paragraphs: list[str]) -> list[str]:
    """Keep one copy of a repeated paragraph, and drop fragments of longer paragraphs."""
    keys = [_key(p) for p in paragraphs]
    kept: list[str] = []
    seen: set[str] = set()
    for i, (paragraph, key) in enumerate(zip(paragraphs, keys, strict=True)):
        if len(key) >= _DEDUPE_MIN_CHARS:
            if key in seen:
                continue
            if any(
                len(other) > len(key) and key in other for j, other in enumerate(keys) if j != i
            ):
                continue
        seen.add(key)
        kept.append(paragraph)
    return kept


def clean_text(text: str, *, title: str | None = None, author: str | None = None) -> str:
    """Return the article body without capture noise, paragraphs separated by blank lines.

    ``title`` and ``author``, when known, let repeated headlines and bylines be recognised.
    """
    text = strip_markup(text.replace("\r\n", "\n").replace("\r", "\n"))
    title_key = _key(strip_markup(title)) if title else ""
    author_key = _key(author) if author else ""
    lines = [ln for ln in _split_lines(text) if not _is_noise(ln.text, title_key, author_key)]
    paragraphs = _drop_duplicates(_join_paragraphs(_drop_furniture(lines)))
    return "\n\n".join(paragraphs)
