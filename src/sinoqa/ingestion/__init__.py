"""Ingestion: read files and web pages, clean them, split them into sentences and chunks,
embed the chunks and keep them in the Chroma index (the only importer of chromadb)."""
