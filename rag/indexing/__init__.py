"""Passages → an index folder: embedders, FAISS, BM25, the chunk store, the question vocabulary,
and the build that writes them all atomically under a manifest."""
