"""Read article files into :class:`Document` objects with their publication facts.

Supported: Markdown/text with optional YAML front matter, HTML (main text and page metadata
via trafilatura) and PDF (pypdf). Files that cannot be read are returned as :class:`Skipped`
with a reason instead of stopping the run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sinoqa.dates import normalize_published
from sinoqa.errors import UnreadableFile
from sinoqa.schema import Article, Skipped

MARKDOWN_SUFFIXES = frozenset({".md", ".markdown", ".txt"})
HTML_SUFFIXES = frozenset({".html", ".htm"})
PDF_SUFFIXES = frozenset({".pdf"})
SUPPORTED_SUFFIXES = MARKDOWN_SUFFIXES | HTML_SUFFIXES | PDF_SUFFIXES

_DOC_ID_UNSAFE = re.compile(r"[^a-z0-9._-]+")


@dataclass(frozen=True)
class Document:
    """One article as read from disk, before cleaning."""

    doc_id: str
    text: str
    source: str
    format: str
    title: str | None = None
    author: str | None = None
    publisher: str | None = None
    published: str | None = None  # ISO 8601, possibly partial: "2021", "2021-02", "2021-02-01"
    published_approx: bool = False
    url: str | None = None

    @property
    def article(self) -> Article:
        """Its publication facts, as every later stage carries them."""
        return Article(
            doc_id=self.doc_id,
            title=self.title or self.doc_id,
            publisher=self.publisher,
            author=self.author,
            published=self.published,
            published_approx=self.published_approx,
            url=self.url,
        )

    @property
    def content_hash(self) -> str:
        """Changes whenever the text or any publication fact changes."""
        facts = asdict(self)
        facts.pop("source")  # moving a file does not change the article
        payload = json.dumps(facts, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()

    @property
    def text_hash(self) -> str:
        """Identifies the article's text as one outlet ran it, to spot the same article under
        two names; the same text from another outlet is a copy, kept and grouped with it
        (:mod:`sinoqa.ingestion.copies`)."""
        normalized = " ".join(self.text.split()) + "\0" + (self.publisher or "")
        return hashlib.sha256(normalized.encode("utf-8")).hexdigest()


@dataclass
class ReadResult:
    documents: list[Document] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def doc_id_from_path(path: Path) -> str:
    """A stable id from the file name: lower-case, safe characters only."""
    slug = _DOC_ID_UNSAFE.sub("-", path.stem.lower()).strip("-.")
    if not slug:
        slug = "doc-" + hashlib.sha256(path.name.encode("utf-8")).hexdigest()[:12]
    return slug


def date_from_url(url: str | None) -> str | None:
    """The day a news URL's path gives (".../2022/06/13/..."), or None; htmldate's reading."""
    if not url:
        return None
    from htmldate import find_date

    return find_date("<html></html>", url=url, extensive_search=False)


def _clean_str(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _document(
    path: Path,
    text: str,
    fmt: str,
    facts: Mapping[str, object],
    published: str | None = None,
    approx: bool = False,
) -> Document:
    """The Document read from ``path``: its text ``facts`` (title, author, publisher, url,
    doc_id) stripped, blank ones left unset; its id from the file name unless it gives one."""
    fact = {
        key: _clean_str(facts.get(key)) for key in ("doc_id", "title", "author", "publisher", "url")
    }
    return Document(
        doc_id=fact["doc_id"] or doc_id_from_path(path),
        text=text,
        source=str(path),
        format=fmt,
        title=fact["title"],
        author=fact["author"],
        publisher=fact["publisher"],
        published=published,
        published_approx=approx,
        url=fact["url"],
    )


def _as_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in {"1", "true", "yes", "y", "approx", "approximate"}


def _decode_text(data: bytes) -> str:
    if b"\x00" in data[:8192]:
        raise UnreadableFile("binary file, not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnreadableFile(f"not valid UTF-8 text ({exc.reason} at byte {exc.start})") from exc


def read_markdown(path: Path, data: bytes) -> Document:
    """Markdown or plain text; YAML front matter, when present, gives the publication facts."""
    import frontmatter
    import yaml

    text = _decode_text(data)
    try:
        post = frontmatter.loads(text)
    except yaml.YAMLError as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UnreadableFile(f"invalid front matter: {first_line}") from exc
    meta: dict[str, Any] = dict(post.metadata)
    url = _clean_str(meta.get("url"))
    published = normalize_published(meta.get("published") or meta.get("date"))
    approx = _as_bool(meta.get("published_approx", False))
    if published is None and (from_url := date_from_url(url)):
        # Inferred, so marked approximate: a URL's date is usually, not always, the article's.
        published, approx = from_url, True
    fmt = "markdown" if path.suffix.lower() != ".txt" else "text"
    return _document(path, post.content, fmt, meta, published, approx)


def read_html(path: Path, data: bytes) -> Document:
    """Main text of a web page, with title, author, site name, date and URL from the page."""
    import trafilatura

    html = _decode_text(data)
    extracted = trafilatura.bare_extraction(
        html, with_metadata=True, include_comments=False, include_tables=True
    )
    text = getattr(extracted, "text", None) if extracted is not None else None
    if not text or not text.strip():
        raise UnreadableFile("no article text found in the HTML")
    facts = {key: getattr(extracted, key, None) for key in ("title", "author", "url")}
    facts["publisher"] = getattr(extracted, "sitename", None)
    return _document(
        path, text, "html", facts, normalize_published(getattr(extracted, "date", None))
    )


def read_pdf(path: Path, data: bytes) -> Document:
    """Text of every page; title and author from the PDF's document information."""
    import io

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    if not data.lstrip().startswith(b"%PDF-"):
        raise UnreadableFile("not a PDF file (no %PDF- header)")
    # pypdf logs what it repairs ("EOF marker not found"); a damaged file becomes a Skipped
    # with its reason, so the log line would only repeat it on the terminal.
    pypdf_log = logging.getLogger("pypdf")
    level = pypdf_log.level
    pypdf_log.setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise UnreadableFile("encrypted PDF")
        pages = [page.extract_text() or "" for page in reader.pages]
        info = reader.metadata
    except PdfReadError as exc:
        raise UnreadableFile(f"damaged PDF ({exc})") from exc
    finally:
        pypdf_log.setLevel(level)
    text = "\n\n".join(page.strip() for page in pages if page.strip())
    if not text:
        raise UnreadableFile("the PDF has no extractable text (scanned images?)")
    facts = {"title": info.title, "author": info.author} if info else {}
    return _document(path, text, "pdf", facts)


_READERS: dict[str, Callable[[Path, bytes], Document]] = {
    **dict.fromkeys(MARKDOWN_SUFFIXES, read_markdown),
    **dict.fromkeys(HTML_SUFFIXES, read_html),
    **dict.fromkeys(PDF_SUFFIXES, read_pdf),
}


def read_file(path: Path, max_bytes: int | None = None) -> Document:
    """Read one file, raising :class:`UnreadableFile` with the reason when it cannot be used."""
    return read_as(path, path.suffix.lower(), max_bytes)


def read_as(path: Path, suffix: str, max_bytes: int | None = None) -> Document:
    """Read ``path`` as a file of type ``suffix`` (uploads arrive under temporary names)."""
    reader = _READERS.get(suffix)
    if reader is None:
        supported = ", ".join(sorted(SUPPORTED_SUFFIXES))
        raise UnreadableFile(
            f"unsupported file type ({suffix or 'no extension'}); supported: {supported}"
        )
    try:
        size = path.stat().st_size
        if max_bytes is not None and size > max_bytes:
            raise UnreadableFile(f"too large ({size:,} bytes; the limit is {max_bytes:,})")
        data = path.read_bytes()
    except OSError as exc:
        raise UnreadableFile(f"cannot be read ({exc.strerror or exc})") from exc
    if not data.strip():
        raise UnreadableFile("empty file")
    document = reader(path, data)
    if not document.text.strip():
        raise UnreadableFile("no article text (only front matter)")
    return document


def iter_files(paths: Iterable[Path]) -> Iterator[Path]:
    """Files under the given paths, in a stable order, skipping hidden and ``_``-prefixed ones."""
    for root in paths:
        if root.is_dir():
            for path in sorted(root.rglob("*")):
                relative = path.relative_to(root).parts
                if path.is_file() and not any(p.startswith((".", "_")) for p in relative):
                    yield path
        else:
            yield root


def read_corpus(
    paths: Iterable[Path], max_bytes: int | None = None, prefer: Collection[str] = ()
) -> ReadResult:
    """Read every file under ``paths``; duplicates (by doc_id or by text) are skipped.

    Of two files with the same text, the one whose doc_id is in ``prefer`` (for example,
    already indexed) is kept; otherwise the first in path order.
    """
    result = ReadResult()
    by_id: dict[str, Document] = {}
    for path in iter_files(paths):
        if not path.exists():
            result.skipped.append(Skipped(str(path), "no such file or directory"))
            continue
        try:
            document = read_file(path, max_bytes=max_bytes)
        except UnreadableFile as exc:
            result.skipped.append(Skipped(str(path), str(exc)))
            continue
        if (twin := by_id.get(document.doc_id)) is not None:
            reason = f"duplicate doc_id '{document.doc_id}' (already read from {twin.source})"
            result.skipped.append(Skipped(str(path), reason))
            continue
        by_id[document.doc_id] = document
    by_text: dict[str, Document] = {}
    for document in sorted(by_id.values(), key=lambda d: d.doc_id not in prefer):
        if (twin := by_text.get(document.text_hash)) is not None:
            reason = f"same text as '{twin.doc_id}' ({twin.source})"
            result.skipped.append(Skipped(document.source, reason))
            continue
        by_text[document.text_hash] = document
    result.documents = [d for d in by_id.values() if by_text.get(d.text_hash) is d]
    return result


_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def safe_file_name(name: str) -> str:
    """A file name with no directories, no traversal and only portable characters."""
    base = re.split(r"[\\/]", name)[-1]
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = base, ""
    stem = _UNSAFE_NAME.sub("-", stem).strip("-._")[:100] or "upload"
    suffix = _UNSAFE_NAME.sub("", suffix)[:10].lower()
    return f"{stem}.{suffix}" if suffix else stem


def store_upload(source: Path, name: str, target_dir: Path, max_bytes: int) -> Path:
    """Copy an uploaded file into ``target_dir`` under a safe, unused name.

    Raises :class:`UnreadableFile` when the file is too large, of a type sinoqa does not read,
    or not readable as that type (for example binary data behind a .md name).
    """
    import shutil

    safe = safe_file_name(name)
    suffix = Path(safe).suffix.lower()
    read_as(source, suffix, max_bytes)  # a wrong type behind a right extension fails here
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / safe
    counter = 1
    while target.exists():
        target = target_dir / f"{Path(safe).stem}-{counter}{suffix}"
        counter += 1
    shutil.copyfile(source, target)
    return target
