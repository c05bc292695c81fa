# The two commands a new user types: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: run ask test test-fast lint browser docs fit fit-cv fit-ranker word-lists fit-watch fit-copies eval-watch eval-record eval-fit eval-rtqa bench bench-scale bench-startup load clean-index

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Re-install only when pyproject.toml changes.
$(VENV)/.runtime-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

# llama-cpp-python builds from source (about six minutes). Built portably, not for the build
# machine's CPU: the native build crashes on virtual machines whose CPUs report AMX. No cache,
# so a native wheel cached by an earlier install is never reused.
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON

$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip show --quiet llama-cpp-python >/dev/null 2>&1 || \
	  CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip install --quiet --no-cache-dir \
	    'llama-cpp-python[server]>=0.3.7,<0.4'
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.runtime-installed

EXAMPLE_QUESTION ?= Where did Wang Yi meet Jake Sullivan in September 2023?

## run: set up, build or update the index from corpus/, then open the chat UI (127.0.0.1:7860)
run: $(VENV)/.runtime-installed
	$(BIN)/sinoqa ingest
	$(BIN)/sinoqa status
	$(BIN)/sinoqa serve

## ask: answer the example question (or EXAMPLE_QUESTION="...") on the command line
ask: $(VENV)/.runtime-installed
	$(BIN)/sinoqa ingest
	$(BIN)/sinoqa ask "$(EXAMPLE_QUESTION)"

# Browser tests drive Debian's Chromium (Playwright's own browser download is not possible).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "Installing Debian's chromium for the browser tests..."; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

## test: set up what tests need, then lint, type-check, check the import layers and run every test
test: $(VENV)/.dev-installed browser
	$(BIN)/ruff check src app tests benchmarks
	$(BIN)/ruff format --check src app tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pytest
	$(BIN)/sinoqa eval --check --corpus corpus --out .eval-out

## test-fast: ruff, mypy and the tests not marked slow (a few minutes; `make test` runs all)
test-fast: $(VENV)/.dev-installed browser
	$(BIN)/ruff check src app tests benchmarks
	$(BIN)/ruff format --check src app tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pytest -m "not slow"

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check --fix src app tests benchmarks
	$(BIN)/ruff format src app tests benchmarks

## docs: regenerate the generated docs (settings, CLI reference, API tables, eval results, stage diagram)
docs: $(VENV)/.runtime-installed
	{ sed '/^<!-- generated/q' docs/configuration.md; $(BIN)/sinoqa settings; } > docs/configuration.md.new
	mv docs/configuration.md.new docs/configuration.md
	$(BIN)/python -c "from sinoqa.evals.records import update_evaluation_doc; update_evaluation_doc()"
	$(BIN)/python -c "from benchmarks.report import update_doc; update_doc()"
	$(BIN)/python docs/architecture_graph.py
	$(BIN)/python -c "from sinoqa_app.api import update_api_doc; update_api_doc()"
	$(BIN)/python -c "from sinoqa.cli.reference import update_cli_doc; update_cli_doc()"

## fit: re-fit the answer's sentence scorer (rtqa-train + the seed tuning questions; indexes
## 719 rtqa-train questions' articles under .fit/ the first time, ~30 min; then ~4 min). The
## selection shares stay the shipped scorer's (the grid's pick is reported beside them);
## `make fit SELECTION=grid` takes the pick, to be checked against the seed constraint in
## docs/evaluation.md. `make fit-cv` cross-validates the candidate features instead.
RTQA_TRAIN ?= ../shared/rtqa-train
SCORER := src/sinoqa/fitting/weights/answer_scorer.json
SELECTION ?= shipped
fit: $(VENV)/.runtime-installed
	$(BIN)/python -m sinoqa.fitting.scorer --rtqa-train $(RTQA_TRAIN) \
	  $(if $(filter grid,$(SELECTION)),,--selection-from $(SCORER))

fit-cv: $(VENV)/.runtime-installed
	$(BIN)/python -m sinoqa.fitting.scorer --rtqa-train $(RTQA_TRAIN) --cv 5 --cv-repeats 3

## word-lists: re-measure the word lists in src/sinoqa/data on the fitting sets: each entry's
## decisions, and the answers it wins and loses on the seed tuning questions and the ranker's
## rtqa-train sample; an entry that wins no more than it loses is removed (indexes .fit/ as
## fit-ranker does the first time, ~30 min; then ~15 min)
word-lists: $(VENV)/.runtime-installed
	$(BIN)/python -m sinoqa.fitting.words --rtqa-train $(RTQA_TRAIN)

## fit-ranker: re-fit the article ranker (indexes 300 rtqa-train questions' articles under
## .fit/ the first time, ~20 min; then ~2 min)
fit-ranker: $(VENV)/.runtime-installed
	$(BIN)/python -m sinoqa.fitting.ranker --rtqa-train $(RTQA_TRAIN)

## fit-watch: fit the watches' cheap test (its two thresholds) on a replay of rtqa-train,
## January to June 2025, week by week (~15 min); writes docs/results/watches/fit/rtqa-train.json
fit-watch: $(VENV)/.runtime-installed
	$(BIN)/python -m sinoqa.fitting.watch --rtqa-train $(RTQA_TRAIN)

## fit-copies: calibrate copy detection on the labelled pairs in evals/copies/pairs.jsonl
## (drawn by `python -m sinoqa.fitting.copies sample`, labelled by reading; ~1 min);
## writes docs/results/copies/calibration.json
fit-copies: $(VENV)/.runtime-installed
	$(BIN)/python -m sinoqa.fitting.copies fit --rtqa $(RTQA) --rtqa $(RTQA_TRAIN)

## eval-watch: replay rtqa-dev week by week with a watch per question: alert recall and
## precision, false alerts, check and ingest times at 0, 50 and 500 watches (~45 min);
## writes docs/results/watches/rtqa-dev.json and its table in docs/evaluation.md
eval-watch: $(VENV)/.runtime-installed
	$(BIN)/python -m sinoqa.evals.replay --rtqa $(RTQA) \
	  --timing-questions $(RTQA_TRAIN)/questions.jsonl

## eval-record: the seed and rtqa-dev eval runs docs/evaluation.md shows, recorded, every
## candidate default asked undated and dated (~40 min)
eval-record: $(VENV)/.runtime-installed
	$(BIN)/sinoqa eval --out eval-out --record docs/results/seed.json
	$(BIN)/sinoqa eval --questions $(RTQA)/questions.jsonl --corpus $(RTQA)/corpus \
	  --index .rtqa-index --out eval-rtqa --record docs/results/rtqa-dev.json \
	  --compare "$(CANDIDATES)"
	$(BIN)/sinoqa eval --questions $(RTQA)/questions.jsonl --corpus $(RTQA)/corpus \
	  --index .rtqa-index --out eval-rtqa-dated --record docs/results/rtqa-dev-dated.json \
	  --dates dated --compare $(DATED_CANDIDATES)
	$(MAKE) docs

# The candidates for the defaults (docs/evaluation.md, "How defaults are chosen"); asked on
# a day, the undated ranker and the recency day play no part, so fewer candidates differ.
CANDIDATES ?= hybrid,retrieval.recent_as_of=false,retrieval.rank_undated=true,retrieval.rank_undated=true;retrieval.recent_as_of=false,hybrid-rrf,retrieval.article_ranker=false,plain
DATED_CANDIDATES ?= hybrid,hybrid-rrf,retrieval.article_ranker=false,plain

## eval-fit: the same candidates on the fitting questions (the article ranker's 300
## rtqa-train questions, after `make fit-ranker`, and the seed tuning sets), undated
eval-fit: $(VENV)/.runtime-installed
	$(BIN)/sinoqa eval --questions .fit/rtqa-train/questions.jsonl \
	  --corpus .fit/rtqa-train/corpus --index .fit/rtqa-train/index --out eval-fit \
	  --compare "$(CANDIDATES)"
	$(BIN)/sinoqa eval --questions evals/questions.jsonl --questions evals/tuning-2.jsonl \
	  --out eval-fit-seed --compare "$(CANDIDATES)"

## eval-rtqa: the external news set (2,354 articles; indexing takes 15-20 min the first time)
RTQA ?= ../shared/rtqa-dev
eval-rtqa: $(VENV)/.runtime-installed
	$(BIN)/sinoqa eval --questions $(RTQA)/questions.jsonl --corpus $(RTQA)/corpus \
	  --index .rtqa-index --out eval-rtqa

## bench-scale: ingest rtqa-train + rtqa-dev (8,591 articles) and time questions (~1 h)
bench-scale: $(VENV)/.runtime-installed
	$(BIN)/python -m benchmarks.scale

## bench: speed, scale and memory (1k/10k/50k chunks of real news, then rtqa-train +
## rtqa-dev whole; about two and a half hours here)
bench: $(VENV)/.runtime-installed
	$(BIN)/python -m benchmarks --rtqa $(RTQA)
	$(BIN)/python -m benchmarks.scale --dev $(RTQA)
	$(MAKE) docs

## bench-startup: cold `sinoqa ask` and `sinoqa serve` to its first answer, as ratios to the
## floor `python -c "import torch, chromadb"` timed in the same run (median of five; ~3 min)
bench-startup: $(VENV)/.runtime-installed
	$(BIN)/python -m benchmarks.startup

## load: 1, 4, 16 and 32 concurrent chat sessions against `sinoqa serve`
load: $(VENV)/.runtime-installed
	$(BIN)/python -m benchmarks.load

clean-index:
	rm -rf index
