"""HTML and Markdown for the chat UI. Everything that comes from an article is escaped here."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from collections.abc import Sequence

from sinoqa.schema import Answer, Citation, Comparison, Source, Timeline, published_label

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~>-])")


def safe_url(url: str | None) -> str | None:
    """Only http(s) links are clickable; ``javascript:`` and the like are shown as text."""
    if url and re.match(r"^https?://[^\s\"'<>]+$", url.strip(), re.IGNORECASE):
        return url.strip()
    return None


def escape_markdown(value: str) -> str:
    """Article text for Markdown: HTML-escaped and Markdown-inert."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", html.escape(value, quote=False))


def answer_markdown(answer: Answer, turn: int) -> str:
    """The chat message: the answer with each [n] linking to its source card."""
    parts: list[str] = []
    for notice in answer.notices:
        parts.append(f"*Note: {escape_markdown(notice)}*")
    if answer.refused:
        parts.append(f"**{escape_markdown(answer.answer)}**")
        if answer.nearest_sources:
            parts.append("*Nearest sources are listed beside the chat; they do not answer it.*")
        return "\n\n".join(parts)
    paragraphs: list[list[str]] = [[]]
    for sentence in answer.sentences:
        body = escape_markdown(sentence.text)
        refs = "".join(f" [\\[{n}\\]](#src-{turn}-{n})" for n in sentence.citations)
        flag = "" if sentence.verified else " ⚠️ *unverified*"
        if sentence.new_paragraph and paragraphs[-1]:
            paragraphs.append([])
        paragraphs[-1].append(body + refs + flag)
    paragraphs = [p for p in paragraphs if p]
    if not paragraphs:
        parts.append(escape_markdown(answer.answer))
    else:
        parts.append(" ".join(paragraphs[0]))
    if len(paragraphs) > 1:
        # What answers stays in view; the further quoted context folds away, one click open.
        more = sum(len(p) for p in paragraphs[1:])
        label = f"More from the sources ({more} sentence{'s' if more > 1 else ''})"
        body = "\n\n".join(" ".join(p) for p in paragraphs[1:])
        parts.append(f"<details><summary>{label}</summary>\n\n{body}\n\n</details>")
    return "\n\n".join(parts)


def _highlighted(passage: str, start_char: int, spans: Sequence[tuple[int, int]]) -> str:
    """The passage, escaped, with the quoted sentences wrapped in <mark>."""
    out: list[str] = []
    cursor = 0
    for start, end in sorted(spans):
        local_start, local_end = start - start_char, end - start_char
        if local_start < cursor or local_end > len(passage):
            continue
        out.append(html.escape(passage[cursor:local_start]))
        out.append(f"<mark>{html.escape(passage[local_start:local_end])}</mark>")
        cursor = local_end
    out.append(html.escape(passage[cursor:]))
    return "".join(out)


def source_card(source: Source, anchor: str, label: str) -> str:
    url = safe_url(source.url)
    title = html.escape(source.title)
    title_html = (
        f'<a href="{html.escape(url, quote=True)}" target="_blank" rel="noopener noreferrer">'
        f"{title}</a>"
        if url
        else title
    )
    byline = " · ".join(
        html.escape(p) for p in (source.publisher or "Unknown outlet", source.author) if p
    )
    approx = ' <span class="approx">approximate date</span>' if source.published_approx else ""
    spans = source.spans if isinstance(source, Citation) else []
    passage = _highlighted(source.passage, source.start_char, spans)
    unsafe_url = (
        f'<div class="url-text">{html.escape(source.url)}</div>' if source.url and not url else ""
    )
    return (
        f'<div class="source-card" id="{html.escape(anchor, quote=True)}">'
        f'<div class="source-head"><span class="source-n">{html.escape(label)}</span> '
        f'<span class="outlet">{byline}</span> · '
        f'<span class="date">{html.escape(source.published or "undated")}</span>{approx}</div>'
        f'<div class="source-title">{title_html}</div>{unsafe_url}'
        f'<blockquote class="passage">{passage}</blockquote>{_copies_line(source)}'
        f'<div class="doc-id">{html.escape(source.doc_id)} · {html.escape(source.chunk_id)}</div>'
        f"</div>"
    )


def _copies_line(source: Source) -> str:
    """Who else carried the text, and the earliest copy in the corpus (never "first
    reported": the corpus cannot know that)."""
    if not source.copies:
        return ""
    carried = ", ".join(
        f"{html.escape(c.outlet or 'Unknown outlet')} ({html.escape(c.date or 'undated')})"
        for c in source.copies
    )
    earliest = next((c for c in source.copies if c.doc_id == source.earliest_doc_id), None)
    first = (
        f"{html.escape(earliest.outlet or 'Unknown outlet')}, "
        f"{html.escape(earliest.date or 'undated')}"
        if earliest is not None
        else "this article"
    )
    return (
        f'<div class="copies">Also carried by: {carried}. Earliest in this corpus: {first}.</div>'
    )


def sources_html(answer: Answer | None, turn: int) -> str:
    """The panel beside the chat: citations, or nearest sources set apart for a refusal."""
    if answer is None:
        return '<div class="sources-empty">Sources for the latest answer appear here.</div>'
    cards: list[str] = []
    if answer.citations:
        cards.append("<h3>Sources</h3>")
        for citation in answer.citations:
            cards.append(source_card(citation, f"src-{turn}-{citation.n}", f"[{citation.n}]"))
    if answer.nearest_sources:
        cards.append(
            '<h3 class="nearest">Nearest sources</h3><p class="nearest-note">These passages '
            "came closest but do <strong>not</strong> answer the question.</p>"
        )
        for i, source in enumerate(answer.nearest_sources, start=1):
            cards.append(source_card(source, f"near-{turn}-{i}", f"({i})"))
    return "".join(cards) or '<div class="sources-empty">No sources.</div>'


def cited_sources(answers: Sequence[Answer]) -> list[Source]:
    """Every cited article once, in the order of its first citation."""
    sources: dict[str, Source] = {}
    for answer in answers:
        for citation in answer.citations:
            sources.setdefault(citation.doc_id, citation)
    return list(sources.values())


def conversation_markdown(answers: Sequence[Answer]) -> str:
    """The conversation as Markdown with a numbered bibliography of every cited article."""
    cited = cited_sources(answers)
    bibliography = {source.doc_id: number for number, source in enumerate(cited, start=1)}
    entries = {source.doc_id: source for source in cited}
    lines = ["# sinoqa conversation", ""]
    for turn, answer in enumerate(answers, start=1):
        lines += [f"## {turn}. {answer.question}", ""]
        lines += [answer.answer, ""]
        for citation in answer.citations:
            number = bibliography[citation.doc_id]
            lines.append(f"- [{citation.n}] → bibliography {number}: “{citation.quote}”")
        if answer.refused and answer.nearest_sources:
            lines.append(
                "- Nearest sources (not support): "
                + ", ".join(s.doc_id for s in answer.nearest_sources)
            )
        for notice in answer.notices:
            lines.append(f"- Note: {notice}")
        lines.append("")
    if bibliography:
        lines += ["## Bibliography", ""]
        for doc_id, number in bibliography.items():
            source = entries[doc_id]
            parts = [
                source.publisher or "Unknown outlet",
                source.author,
                published_label(source.published, source.published_approx),
            ]
            entry = ", ".join(p for p in parts if p) + f". *{source.title}*."
            if source.url:
                entry += f" {source.url}"
            lines.append(f"{number}. {entry} (doc_id `{doc_id}`)")
    return "\n".join(lines).rstrip() + "\n"


def _date_parts(published: str | None) -> list[int]:
    return [int(part) for part in published.split("-")] if published else []


def bibliography_csl(answers: Sequence[Answer], accessed: dt.date) -> str:
    """The cited articles as CSL-JSON (for Zotero, pandoc, citeproc)."""
    items = []
    for source in cited_sources(answers):
        item: dict[str, object] = {
            "id": source.doc_id,
            "type": "article-newspaper",
            "title": source.title,
            "accessed": {"date-parts": [[accessed.year, accessed.month, accessed.day]]},
        }
        if source.publisher:
            item["container-title"] = source.publisher
        if source.author:
            item["author"] = [{"literal": source.author}]
        if source.published:
            issued: dict[str, object] = {"date-parts": [_date_parts(source.published)]}
            if source.published_approx:
                issued["circa"] = True
            item["issued"] = issued
        if source.url:
            item["URL"] = source.url
        items.append(item)
    return json.dumps(items, indent=2, ensure_ascii=False) + "\n"


_BIBTEX_SPECIAL = re.compile(r"([{}\\%&#$_~^])")


def _bibtex(value: str) -> str:
    return _BIBTEX_SPECIAL.sub(lambda m: "\\" + m.group(1), value)


def bibliography_bibtex(answers: Sequence[Answer], accessed: dt.date) -> str:
    """The cited articles as BibTeX (@online entries, keyed by doc_id)."""
    entries = []
    for source in cited_sources(answers):
        fields = {"title": source.title, "organization": source.publisher}
        if source.author:
            fields["author"] = "{" + _bibtex(source.author) + "}"  # a name as given, unparsed
        parts = _date_parts(source.published)
        if parts:
            fields["year"] = str(parts[0])
        if len(parts) > 1:
            fields["month"] = str(parts[1])
        if len(parts) > 2:
            fields["date"] = source.published
        if source.published_approx:
            fields["note"] = "publication date approximate"
        fields["url"] = source.url
        fields["urldate"] = accessed.isoformat()
        body = ",\n".join(
            f"  {name} = {{{value if name in ('author', 'url') else _bibtex(value)}}}"
            for name, value in fields.items()
            if value
        )
        key = re.sub(r"[^A-Za-z0-9_:-]", "-", source.doc_id)
        entries.append(f"@online{{{key},\n{body}\n}}")
    return "\n\n".join(entries) + "\n"


def timeline_markdown(timeline: Timeline) -> str:
    """The timeline grouped by month; every value from an article escaped."""
    if not timeline.entries:
        return "No indexed article is on this query."
    lines: list[str] = []
    month = None
    for entry in timeline.entries:
        period = entry.period
        if period != month:
            month = period
            lines += ["", f"#### {escape_markdown(period)}", ""]
        date = escape_markdown(published_label(entry.date, entry.date_approx))
        outlet = escape_markdown(entry.publisher or "Unknown outlet")
        title = escape_markdown(entry.title)
        link = safe_url(entry.url)
        title = f"[{title}]({link.replace('(', '%28').replace(')', '%29')})" if link else title
        also = ", ".join(c.outlet or "Unknown outlet" for c in entry.copies)
        also = f" (also carried by {escape_markdown(also)})" if also else ""
        lines.append(f"- **{date}**, {outlet}{also}: {title}  \n  “{escape_markdown(entry.quote)}”")
    return "\n".join(lines).strip() + "\n"


def comparison_html(comparison: Comparison) -> str:
    """One column per outlet with its own answer and citations; then the disagreements."""
    columns = []
    for column in comparison.columns:
        if column.refused:
            body = "<p class='refused'>This outlet's articles don't answer this.</p>"
        else:
            cited = "".join(
                f"<li>[{c.n}] {html.escape(published_label(c.published, c.published_approx))}: "
                f"{html.escape(c.title)}</li>"
                for c in column.citations
            )
            shared = (
                "<p class='copies'>Printed the same text as "
                f"{html.escape(', '.join(column.same_text_as))}.</p>"
                if column.same_text_as
                else ""
            )
            body = f"<p>{html.escape(column.answer)}</p><ul>{cited}</ul>{shared}"
        columns.append(
            f"<div class='outlet-column'><h4>{html.escape(column.publisher)}</h4>{body}</div>"
        )
    conflicts = "".join(
        f"<li>{html.escape(c.subject)}: "
        + "; ".join(f"{html.escape(o)}: {html.escape(', '.join(v))}" for o, v in c.values.items())
        + "</li>"
        for c in comparison.conflicts
    )
    differ = f"<p><b>The outlets differ on</b></p><ul class='conflicts'>{conflicts}</ul>"
    return (
        "<div class='comparison' style='display:flex;gap:1em'>"
        + "".join(columns)
        + "</div>"
        + (differ if conflicts else "")
    )
