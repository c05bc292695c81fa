"""Retrieval: read the question, find candidate passages (dense + BM25, fused and
filtered) and rank their articles."""
