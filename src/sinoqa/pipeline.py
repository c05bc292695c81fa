"""The composition root: the one place that knows the order of the stages.

The CLI, the UI and the evals call these functions, never a stage directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sinoqa import index
from sinoqa.index import IndexStatus, IngestReport, ProgressCallback
from sinoqa.settings import Settings


def ingest(
    settings: Settings | None = None,
    paths: Sequence[Path] | None = None,
    *,
    rebuild: bool = False,
    progress: ProgressCallback | None = None,
) -> IngestReport:
    """Read, clean, chunk and embed the corpus (or just ``paths``) into the index."""
    return index.ingest(settings or Settings(), paths, rebuild=rebuild, progress=progress)


def status(settings: Settings | None = None) -> IndexStatus:
    """What is indexed under the current settings."""
    return index.index_status(settings or Settings())
