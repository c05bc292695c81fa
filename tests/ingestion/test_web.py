"""Adding articles from the web: a real HTTP server on 127.0.0.1 serves pages and feeds."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import frontmatter
import pytest

from sinoqa import pipeline
from sinoqa.errors import FetchError, IndexBusy
from sinoqa.ingestion.build import writing
from sinoqa.ingestion.fetch import check_url
from sinoqa.settings import Settings
from tests.conftest import run_sinoqa
from tests.servers import free_port


def _article(title: str, author: str, date: str, outlet: str, path: str, body: list[str]) -> str:
    paragraphs = "\n".join(f"<p>{p}</p>" for p in body)
    return f"""<!doctype html><html><head><title>{title} | {outlet}</title>
<meta name="author" content="{author}">
<meta property="og:site_name" content="{outlet}">
<meta property="article:published_time" content="{date}T08:00:00Z">
<link rel="canonical" href="{{base}}{path}">
</head><body><nav><a href="/">Home</a> <a href="/world">World</a></nav>
<article><h1>{title}</h1>{paragraphs}</article>
<footer>Copyright {outlet}</footer></body></html>"""


TARIFFS = _article(
    "Beijing answers chip curbs with rare earth licences",
    "Mei Lan",
    "2024-05-14",
    "Harbour Ledger",
    "/news/rare-earths.html",
    [
        "China's commerce ministry said on Tuesday that exporters of gallium and germanium "
        "will need a licence for every shipment, a week after Washington widened its curbs "
        "on advanced chips.",
        "Officials in Beijing described the licences as a routine matter of national "
        "security, while trade lawyers in Shanghai said the rules could delay cargoes to "
        "American buyers by several weeks.",
        "The ministry added that the licensing office in Tianjin would review applications "
        "within forty-five working days, and that firms found shipping without one could "
        "lose their export rights for three years.",
        "Analysts at a Hong Kong brokerage said the move was calibrated to remind Washington "
        "of its dependence on Chinese processing without halting the trade outright.",
    ],
)
SUMMIT = _article(
    "Envoys set a date for a climate working group",
    "Tom Reyes",
    "2024-06-02",
    "Harbour Ledger",
    "/news/climate-group.html",
    [
        "American and Chinese climate envoys agreed in Jakarta to convene a joint working "
        "group on methane before the end of September, according to a statement issued by "
        "both delegations.",
        "The statement said the group would meet in Kunming and report to both governments "
        "on monitoring of coal-mine methane, a source of emissions that neither side had "
        "addressed in earlier talks.",
        "Diplomats said the agreement was modest but showed that climate cooperation had "
        "survived a difficult spring in relations between the two countries.",
    ],
)
RSS = """<?xml version="1.0"?><rss version="2.0"><channel><title>Harbour Ledger</title>
<link>{base}/</link><description>News</description>
<item><title>Rare earths</title><link>{base}/news/rare-earths.html</link></item>
<item><title>Climate</title><link>{base}/news/climate-group.html</link></item>
</channel></rss>"""
ATOM = """<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">
<title>Harbour Ledger</title><id>{base}/</id><updated>2024-06-02T00:00:00Z</updated>
<entry><title>Climate</title><id>{base}/c</id><updated>2024-06-02T00:00:00Z</updated>
<link href="{base}/news/climate-group.html"/></entry></feed>"""
NO_TEXT = "<html><head><title>Menu</title></head><body><nav><a href='/a'>A</a></nav></body></html>"


class _Site(BaseHTTPRequestHandler):
    base = ""

    def log_message(self, *args: object) -> None:  # quiet test output
        return

    def do_GET(self) -> None:
        base = self.base
        routes: dict[str, tuple[int, str, bytes]] = {
            "/news/rare-earths.html": (200, "text/html", TARIFFS.format(base=base).encode()),
            "/news/climate-group.html": (200, "text/html", SUMMIT.format(base=base).encode()),
            "/feed.rss": (200, "application/rss+xml", RSS.format(base=base).encode()),
            "/feed.atom": (200, "application/atom+xml", ATOM.format(base=base).encode()),
            "/menu.html": (200, "text/html; charset=utf-8", NO_TEXT.encode()),
            "/binary.html": (200, "text/html", b"\x89PNG\r\n\x1a\n\x00\x00\x00" * 100),
            "/photo.png": (200, "image/png", b"\x89PNG\r\n\x1a\n"),
            "/huge.html": (200, "text/html", b"<html><body>" + b"<p>word </p>" * 30_000),
        }
        if self.path.startswith("/hop/"):
            hops = int(self.path.rsplit("/", 1)[1])
            target = "/news/rare-earths.html" if hops == 0 else f"/hop/{hops - 1}"
            self._send(302, "text/plain", b"", location=target)
        elif self.path == "/loop":
            self._send(302, "text/plain", b"", location="/loop")
        elif self.path == "/slow.html":
            time.sleep(3)
            self._send(200, "text/html", TARIFFS.format(base=base).encode())
        elif self.path in routes:
            self._send(*routes[self.path])
        else:
            self._send(404, "text/plain", b"not here")

    def _send(self, status: int, kind: str, body: bytes, location: str | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        if location:
            self.send_header("Location", location)
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # client gave up
            self.wfile.write(body)


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    """A news site on 127.0.0.1: two articles, RSS and Atom feeds, and pages that fail."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    handler = type("Site", (_Site,), {"base": base})
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield base
    server.shutdown()
    server.server_close()


@pytest.fixture
def web_settings(settings: Settings) -> Settings:
    """The local server is on loopback: allowed here, as SINOQA_FETCH__ALLOW_PRIVATE does."""
    fetch = settings.fetch.model_copy(
        update={"allow_private": True, "timeout_s": 1.5, "max_bytes": 200_000, "max_redirects": 3}
    )
    return settings.model_copy(update={"fetch": fetch})


def test_each_url_is_added_or_rejected_with_its_reason(web_settings: Settings, site: str) -> None:
    pipeline.ingest(web_settings)
    urls = {
        "article": f"{site}/news/rare-earths.html",
        "redirected": f"{site}/hop/2",
        "missing": f"{site}/gone.html",
        "slow": f"{site}/slow.html",
        "huge": f"{site}/huge.html",
        "binary": f"{site}/binary.html",
        "image": f"{site}/photo.png",
        "no text": f"{site}/menu.html",
        "loop": f"{site}/loop",
        "too many hops": f"{site}/hop/5",
        "ftp": "ftp://127.0.0.1/file.html",
    }
    report = pipeline.add(web_settings, list(urls.values()))
    reasons = dict(report.rejected)
    assert [url for url, _ in report.added] == [urls["article"]]
    added_as = report.added[0][1]
    assert report.known == [(urls["redirected"], added_as)]  # the same canonical page
    assert "HTTP 404" in reasons[urls["missing"]]
    assert "no answer within 1.5 s" in reasons[urls["slow"]]
    assert "larger than 200,000 bytes" in reasons[urls["huge"]]
    assert "binary content" in reasons[urls["binary"]]
    assert "not an HTML page" in reasons[urls["image"]]
    assert "no article text" in reasons[urls["no text"]]
    assert "redirect loop" in reasons[urls["loop"]]
    assert "more than 3 redirects" in reasons[urls["too many hops"]]
    assert "only http and https" in reasons[urls["ftp"]]

    stored = list((web_settings.corpus.dir / "web").glob("*.md"))
    assert len(stored) == 1  # nothing else was written
    meta = frontmatter.loads(stored[0].read_text(encoding="utf-8")).metadata
    assert meta["url"] == urls["article"] and meta["source_url"] == urls["article"]
    assert (meta["publisher"], meta["author"], str(meta["published"])) == (
        "Harbour Ledger",
        "Mei Lan",
        "2024-05-14",
    )
    assert meta["fetched_at"]

    answer = pipeline.Pipeline(web_settings).ask(
        "How long does the Tianjin licensing office take to review applications?"
    )
    assert not answer.refused and "forty-five working days" in answer.answer
    cited = answer.citations[0]
    assert (cited.url, cited.publisher, cited.published) == (
        urls["article"],
        "Harbour Ledger",
        "2024-05-14",
    )


def test_feeds_add_their_articles_and_a_refresh_adds_only_new_ones(
    web_settings: Settings, site: str
) -> None:
    first = pipeline.add(web_settings, feeds=[f"{site}/feed.atom"])
    assert [url for url, _ in first.added] == [f"{site}/news/climate-group.html"]
    both = pipeline.add(web_settings, feeds=[f"{site}/feed.rss"])
    assert [url for url, _ in both.added] == [f"{site}/news/rare-earths.html"]
    again = pipeline.add(web_settings, refresh=True)
    assert again.feeds == [f"{site}/feed.atom", f"{site}/feed.rss"]
    assert again.added == [] and again.rejected == []
    not_a_feed = pipeline.add(web_settings, feeds=[f"{site}/news/climate-group.html"])
    assert "not an RSS or Atom feed" in dict(not_a_feed.rejected)[f"{site}/news/climate-group.html"]


def test_private_addresses_and_credentials_are_refused(settings: Settings, site: str) -> None:
    with pytest.raises(FetchError, match="loopback, private or link-local"):
        check_url(f"{site}/news/rare-earths.html", allow_private=False)
    for url in ("http://10.0.0.1/", "http://169.254.169.254/latest/meta-data/", "http://[::1]/"):
        with pytest.raises(FetchError, match="refused"):
            check_url(url, allow_private=False)
    with pytest.raises(FetchError, match="user name or password"):
        check_url("http://user:secret@example.com/", allow_private=True)
    report = pipeline.add(settings, [f"{site}/news/rare-earths.html"])  # the default
    assert report.added == [] and "SINOQA_FETCH__ALLOW_PRIVATE" in report.rejected[0][1]
    assert not (settings.corpus.dir / "web").exists()


@pytest.mark.slow
def test_sinoqa_add_from_the_command_line(tmp_path: Path, corpus_dir: Path, site: str) -> None:
    index = tmp_path / "index"
    env = {"SINOQA_FETCH__ALLOW_PRIVATE": "true"}
    url = f"{site}/news/climate-group.html"
    result = run_sinoqa(
        "add", url, f"{site}/gone.html", "--corpus", corpus_dir, "--index", index, env=env
    )
    assert result.returncode == 0, result.stderr
    assert "1 added, 1 rejected" in result.stdout and "HTTP 404" in result.stdout
    status = run_sinoqa("status", "--index", index, "--json")
    assert '"Harbour Ledger"' in status.stdout  # the outlet, from the page
    # Nothing added: a script can tell by the exit status; a URL without its scheme is named.
    failed = run_sinoqa("add", "example.com/story", "--corpus", corpus_dir, "--index", index)
    assert failed.returncode == 1, failed.stderr
    assert "not a URL: write it in full, e.g. https://example.com/story" in failed.stdout
    assert "0 added, 1 rejected" in failed.stdout
    # A URL added before is no failure: it is in the corpus, and the exit status says so.
    repeat = run_sinoqa("add", url, "--corpus", corpus_dir, "--index", index, env=env)
    assert repeat.returncode == 0, repeat.stdout
    assert "(added before)" in repeat.stdout
    assert "0 added, 1 added before, 0 rejected" in repeat.stdout
    # A refresh with no feed added yet says so, and how to add one.
    nothing = run_sinoqa("add", "--refresh", "--corpus", corpus_dir, "--index", index)
    assert nothing.returncode == 0, nothing.stderr
    assert "No feeds to refresh" in nothing.stdout and "sinoqa add --feed URL" in nothing.stdout
    feed = run_sinoqa(
        "add", "--feed", f"{site}/feed.atom", "--corpus", corpus_dir, "--index", index, env=env
    )
    assert feed.returncode == 0, feed.stderr  # its one article was added above
    again = run_sinoqa("add", "--refresh", "--corpus", corpus_dir, "--index", index, env=env)
    assert "Nothing new in 1 feed(s)." in again.stdout, again.stdout


@pytest.mark.slow
def test_one_ingest_writes_an_index_at_a_time(tmp_path: Path, corpus_dir: Path) -> None:
    index = tmp_path / "index"
    command = [sys.executable, "-m", "sinoqa.cli", "ingest", "--corpus", str(corpus_dir)]
    runs = [
        subprocess.Popen(
            [*command, "--index", str(index)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=600) for run in runs]
    for run, (_, stderr) in zip(runs, outputs, strict=True):
        assert run.returncode == 0, stderr
        assert "--rebuild" not in stderr
    assert pipeline.status(Settings().with_paths(corpus=corpus_dir, index=index)).documents == 5

    settings = Settings().with_paths(corpus=corpus_dir, index=index)
    with writing(settings):  # as if another ingest were running
        busy = run_sinoqa("ingest", "--corpus", corpus_dir, "--index", index, "--no-wait")
        with pytest.raises(IndexBusy):
            pipeline.ingest(settings, wait=False)
    assert busy.returncode == 3 and "is running on" in busy.stderr
    assert f"another ingest (process {os.getpid()} since" in " ".join(busy.stderr.split())
