"""The user's :class:`sinoqa.schema.Filters` as the index reads them: metadata filters for
Chroma (through llama-index) and a per-chunk test for BM25."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sinoqa.schema import Filters

if TYPE_CHECKING:
    from llama_index.core.vector_stores.types import MetadataFilters


def metadata_filters(filters: Filters) -> MetadataFilters | None:
    """The same restriction as llama-index metadata filters (Chroma turns them into where)."""
    from llama_index.core.vector_stores.types import (
        FilterCondition,
        FilterOperator,
        MetadataFilter,
        MetadataFilters,
    )

    if not filters.active:
        return None
    parts: list[MetadataFilter] = []
    if filters.publishers:
        parts.append(
            MetadataFilter(
                key="publisher", value=list(filters.publishers), operator=FilterOperator.IN
            )
        )
    low, high = filters.bounds()
    # An article matches when its (possibly partial) date overlaps the range.
    if low is not None:
        parts.append(MetadataFilter(key="published_max", value=low, operator=FilterOperator.GTE))
    if high is not None:
        parts.append(MetadataFilter(key="published_min", value=high, operator=FilterOperator.LTE))
    return MetadataFilters(filters=list(parts), condition=FilterCondition.AND)


def matches(filters: Filters, metadata: dict[str, Any]) -> bool:
    """Whether a chunk with ``metadata`` passes the outlet and date-range filters."""
    if filters.publishers and metadata.get("publisher") not in filters.publishers:
        return False
    low, high = filters.bounds()
    if low is not None and int(metadata.get("published_max") or 0) < low:
        return False
    return not (high is not None and int(metadata.get("published_min") or 10**9) > high)
