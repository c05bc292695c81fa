"""sinoqa: question answering over news on US-China relations, every answer tied to its sources."""

from sinoqa.pipeline import ingest, status
from sinoqa.settings import Settings

__all__ = ["Settings", "ingest", "status"]
__version__ = "0.1.0"
