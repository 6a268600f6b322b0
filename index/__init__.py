"""Indexing: article parsing, chunking, embedding and the Chroma store."""
