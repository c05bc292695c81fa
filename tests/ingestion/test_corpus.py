"""Readers: front matter, HTML, PDF, and files that must be skipped with a reason."""

from __future__ import annotations

from pathlib import Path

from sinoqa.ingestion.corpus import read_corpus, read_file
from tests.conftest import CORPUS, SEEDS

ARTICLE_HTML = """<!doctype html>
<html><head>
<title>Trade talks resume in Geneva | Example Herald</title>
<meta property="og:title" content="Trade talks resume in Geneva">
<meta name="author" content="Jane Roe">
<meta property="og:site_name" content="Example Herald">
<meta property="article:published_time" content="2022-05-17T08:00:00Z">
<link rel="canonical" href="https://herald.example/2022/05/trade-talks">
</head><body>
<nav><a href="/">Home</a> <a href="/world">World</a></nav>
<article>
<h1>Trade talks resume in Geneva</h1>
<p>Negotiators from both countries met in Geneva on Tuesday to restart tariff talks that
stalled last year, according to officials familiar with the meeting.</p>
<p>The delegations agreed to meet again in July and to set up a working group on export
controls, a sticking point since the previous round collapsed.</p>
</article>
<footer>Copyright Example Herald</footer>
</body></html>
"""


def make_pdf(path: Path, lines: list[str], title: str = "", author: str = "") -> None:
    """Write a small, valid one-page PDF with real text objects (no PDF library needed)."""
    content = (
        "BT /F1 11 Tf 72 720 Td 14 TL "
        + " ".join(
            "(" + line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ") '"
            for line in lines
        )
        + " ET"
    )
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        "/Resources << /Font << /F1 5 0 R >> >> >>",
        f"<< /Length {len(content)} >>\nstream\n{content}\nendstream",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        f"<< /Title ({title}) /Author ({author}) >>",
    ]
    out = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{offset:010d} 00000 n \n" for offset in offsets).encode()
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info 6 0 R >>\n"
        f"startxref\n{xref}\n%%EOF\n"
    ).encode()
    path.write_bytes(out)


def test_seed_front_matter_round_trips() -> None:
    document = read_file(CORPUS / "eir-2023-new-balance.md")
    assert document.doc_id == "eir-2023-new-balance"
    assert document.title == "Opinion – A New Balance in Sino-US Relations?"
    assert document.author == "He Xiaoheng Derek"
    assert document.publisher == "E-International Relations"
    assert document.published == "2023-10-16"
    assert document.published_approx is False
    assert document.url and document.url.startswith("https://www.e-ir.info/2023/10/16/")

    partial = read_file(CORPUS / "teneo-2021-first-contact.md")
    assert partial.published == "2021-02" and partial.published_approx is True
    assert partial.url is None and partial.author is None


def test_corpus_holds_the_seeds_as_captured() -> None:
    """The corpus bodies are the seed captures byte for byte, front matter added on top."""
    seeds = sorted(SEEDS.glob("0*.txt"))
    assert len(seeds) == len(list(CORPUS.glob("*.md"))) == 5, f"seed captures under {SEEDS}"
    for seed in seeds:
        captured = seed.read_text(encoding="utf-8")
        matches = [
            p for p in CORPUS.glob("*.md") if p.read_text(encoding="utf-8").endswith(captured)
        ]
        assert len(matches) == 1, seed.name


def test_file_without_front_matter_gets_id_from_name(tmp_path: Path) -> None:
    path = tmp_path / "My Article (Draft).txt"
    path.write_text("Plain text body about tariffs and trade.\n", encoding="utf-8")
    document = read_file(path)
    assert document.doc_id == "my-article-draft"
    assert document.title is None and document.published is None
    assert "tariffs" in document.text


def test_partial_front_matter_keeps_what_is_there(tmp_path: Path) -> None:
    path = tmp_path / "note.md"
    path.write_text(
        "---\ntitle: Only a title\npublished: 2022-03-04\n---\nBody.\n", encoding="utf-8"
    )
    document = read_file(path)
    assert (document.doc_id, document.title, document.published) == (
        "note",
        "Only a title",
        "2022-03-04",
    )
    assert document.publisher is None


def test_a_news_url_dates_an_undated_article_approximately(tmp_path: Path) -> None:
    url = "https://www.cnn.com/2022/06/13/us/five-things-june-13"
    undated = tmp_path / "undated.md"
    undated.write_text(f"---\ntitle: Five things\nurl: {url}\n---\nBody.\n", encoding="utf-8")
    document = read_file(undated)
    assert (document.published, document.published_approx) == ("2022-06-13", True)
    dated = tmp_path / "dated.md"
    dated.write_text(f"---\nurl: {url}\npublished: 2022-06-14\n---\nBody.\n", encoding="utf-8")
    assert (read_file(dated).published, read_file(dated).published_approx) == ("2022-06-14", False)
    plain = tmp_path / "plain.md"
    plain.write_text("---\nurl: https://example.com/about\n---\nBody.\n", encoding="utf-8")
    assert read_file(plain).published is None


def test_html_main_text_and_page_metadata(tmp_path: Path) -> None:
    path = tmp_path / "herald-trade.html"
    path.write_text(ARTICLE_HTML, encoding="utf-8")
    document = read_file(path)
    assert document.doc_id == "herald-trade"
    assert document.format == "html"
    assert document.title == "Trade talks resume in Geneva"
    assert document.author == "Jane Roe"
    assert document.publisher == "Example Herald"
    assert document.published == "2022-05-17"
    assert document.url == "https://herald.example/2022/05/trade-talks"
    assert "working group on export" in document.text
    assert "Home" not in document.text.split()  # navigation is not article text


def test_pdf_text_and_info(tmp_path: Path) -> None:
    path = tmp_path / "briefing.pdf"
    make_pdf(
        path,
        [
            "Export controls on advanced chips were tightened in October.",
            "Officials said the rules target military end users.",
        ],
        title="Chip controls briefing",
        author="Policy Desk",
    )
    document = read_file(path)
    assert document.format == "pdf"
    assert document.title == "Chip controls briefing" and document.author == "Policy Desk"
    assert "Export controls on advanced chips" in document.text
    assert "military end users" in document.text


def test_bad_files_are_skipped_with_reasons_and_the_rest_is_read(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "good.md").write_text("---\ntitle: Good\n---\nA readable article.\n")
    (corpus / "empty.md").write_text("   \n")
    (corpus / "binary.txt").write_bytes(b"\x00\x01\x02PK\x03\x04" * 20)
    (corpus / "latin1.md").write_bytes("Caf\xe9 au lait".encode("latin-1"))
    (corpus / "slides.docx").write_bytes(b"PK\x03\x04 not really")
    (corpus / "fake.pdf").write_text("this is not a pdf")
    (corpus / "broken.md").write_text("---\ntitle: [unclosed\n---\nBody\n")
    (corpus / "only-meta.md").write_text("---\ntitle: Nothing else\n---\n")
    (corpus / ".hidden.md").write_text("ignored")

    result = read_corpus([corpus])
    assert [d.doc_id for d in result.documents] == ["good"]
    reasons = {Path(s.path).name: s.reason for s in result.skipped}
    assert reasons == {
        "binary.txt": "binary file, not text",
        "broken.md": reasons["broken.md"],
        "empty.md": "empty file",
        "fake.pdf": "not a PDF file (no %PDF- header)",
        "latin1.md": reasons["latin1.md"],
        "only-meta.md": "no article text (only front matter)",
        "slides.docx": reasons["slides.docx"],
    }
    assert reasons["broken.md"].startswith("invalid front matter")
    assert reasons["latin1.md"].startswith("not valid UTF-8")
    assert reasons["slides.docx"].startswith("unsupported file type (.docx)")


def test_too_large_files_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "big.md"
    path.write_text("word " * 1000)
    result = read_corpus([path], max_bytes=100)
    assert result.documents == []
    assert result.skipped[0].reason.startswith("too large (5,000 bytes")


def test_duplicates_by_id_and_by_text_are_skipped(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.md").write_text("---\ndoc_id: same\n---\nFirst article text.\n")
    (corpus / "b.md").write_text("---\ndoc_id: same\n---\nAnother text.\n")
    (corpus / "c.md").write_text("---\ntitle: Copy\n---\nFirst   article text.\n")
    result = read_corpus([corpus])
    assert [d.doc_id for d in result.documents] == ["same"]
    reasons = sorted(s.reason for s in result.skipped)
    assert reasons[0].startswith("duplicate doc_id 'same'")
    assert reasons[1].startswith("same text as 'same'")
