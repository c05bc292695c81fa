"""The Watches tab: the questions followed, their unread changes, and each change with the
new articles that led to it; and "Watch this question" under the chat's answers."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import Any

import gradio as gr

from sinoqa.errors import SinoqaError
from sinoqa.pipeline import Pipeline
from sinoqa.schema import Answer, Filters, Watch, WatchChange


@dataclass(frozen=True)
class WatchTab:
    tab: gr.Tab
    listing: gr.HTML
    chosen: gr.Dropdown
    changes: gr.HTML
    timer: gr.Timer


def tab_label(watches: list[Watch]) -> str:
    unread = sum(w.unread for w in watches)
    return f"Watches ({unread} unread)" if unread else "Watches"


def listing_html(watches: list[Watch]) -> str:
    if not watches:
        return (
            "<p>No question is watched yet. Ask one in the chat, then press "
            "<b>Watch this question</b>: it is asked again whenever new articles may change "
            "its answer, and every change shows here.</p>"
        )
    rows = []
    for watch in watches:
        unread = f' <b class="unread">{watch.unread} unread</b>' if watch.unread else ""
        rows.append(
            f'<li data-watch="{escape(watch.name)}"><b>{escape(watch.name)}</b>: '
            f"{escape(watch.question)} ({len(watch.changes)} changes{unread})</li>"
        )
    return f'<ul class="watch-list">{"".join(rows)}</ul>'


def _change_html(change: WatchChange) -> str:
    items = "".join(f"<li>{escape(item)}</li>" for item in change.what_changed)
    cards = []
    for article in change.new_articles:
        facts = " · ".join(escape(v) for v in (article.outlet, article.date) if v)
        cards.append(
            f'<div class="source-card new-article" data-doc="{escape(article.doc_id)}">'
            f"<b>{escape(article.title or article.doc_id)}</b><br><small>{facts}</small>"
            f"<blockquote>{escape(article.passage)}</blockquote></div>"
        )
    return (
        f'<section class="watch-change"><h4>{escape(change.at)}</h4><ul>{items}</ul>'
        f"{''.join(cards)}<details><summary>The answer now</summary>"
        f"<p>{escape(change.answer_after)}</p></details></section>"
    )


def changes_html(watch: Watch | None) -> str:
    if watch is None:
        return ""
    if not watch.changes:
        return f"<p>{escape(watch.question)}: no change recorded yet.</p>"
    newest_first = "".join(_change_html(c) for c in reversed(watch.changes))
    return f"<h3>{escape(watch.question)}</h3>{newest_first}"


def build_watch_tab(pipe: Pipeline) -> WatchTab:
    """The tab (inside the app's gr.Tabs), drawn with the watches kept now."""
    watches = _watches(pipe)
    with gr.Tab(tab_label(watches), id="watches-tab", elem_id="watches-tab") as tab:
        listing = gr.HTML(listing_html(watches), elem_id="watch-list")
        chosen = gr.Dropdown(
            choices=[w.name for w in watches],
            value=None,
            label="Show the changes of",
            elem_id="watch-chosen",
        )
        changes = gr.HTML(elem_id="watch-changes")
    return WatchTab(tab, listing, chosen, changes, gr.Timer(30))


def _watches(pipe: Pipeline) -> list[Watch]:
    try:
        return pipe.watches.watches()
    except SinoqaError:  # the tab says nothing rather than failing the whole page
        return []


def wire_watch_tab(
    demo: gr.Blocks,
    pipe: Pipeline,
    tab: WatchTab,
    watch_button: gr.Button,
    status: gr.Markdown,
    state: gr.State,
    filters: list[Any],
) -> None:
    """Refreshed when the page loads, when shown and every 30 s; a watch chosen shows its
    changes (then read); the chat's button watches the conversation's last question."""

    def refresh(chosen: str | None = None) -> tuple[Any, ...]:
        watches = _watches(pipe)
        names = [w.name for w in watches]
        return (
            gr.Tab(label=tab_label(watches)),
            listing_html(watches),
            gr.Dropdown(choices=names, value=chosen if chosen in names else None),
        )

    outputs = [tab.tab, tab.listing, tab.chosen]
    demo.load(refresh, [tab.chosen], outputs)
    tab.tab.select(refresh, [tab.chosen], outputs)
    tab.timer.tick(refresh, [tab.chosen], outputs)

    def show(name: str | None) -> tuple[Any, ...]:
        if not name:
            return "", *refresh()[:2]
        try:
            watch = pipe.watches.show(name, mark_read=True)
        except SinoqaError as exc:
            return f"<p>{escape(str(exc))}</p>", *refresh()[:2]
        watches = _watches(pipe)
        return changes_html(watch), gr.Tab(label=tab_label(watches)), listing_html(watches)

    tab.chosen.change(show, [tab.chosen], [tab.changes, tab.tab, tab.listing])

    def watch_last(state: list[dict[str, Any]], publishers: Any, start: Any, end: Any) -> Any:
        if not state:
            return "Ask a question first; the watch follows the last one.", *refresh()
        question = Answer.model_validate(state[-1]).question
        try:
            filters = Filters(publishers=publishers or (), date_from=start, date_to=end)
            watch = pipe.watches.add(question, filters)
        except SinoqaError as exc:
            return f"Not watched: {exc}", *refresh()
        return (
            f"Watching **{watch.name}**: it is asked again when new articles may change the "
            "answer; changes show in the Watches tab.",
            *refresh(watch.name),
        )

    watch_button.click(watch_last, [state, *filters], [status, *outputs])
