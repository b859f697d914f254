"""The index as it is read: store, segments, vectors, BM25, lexicon, manifest, folder,
loading a generation and following the live one. Nothing here writes a new generation:
that is `rag.indexing`."""
