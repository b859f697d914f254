"""The index as it is read, and its files: store (and the `StoreWriter` that commits a change),
segments, vectors, BM25, text analysis, vocabulary, translation, manifest, folder, loading a
generation and following the live one. What to write, and when (a build, a change), is
`rag.indexing`."""
