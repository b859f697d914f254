"""A question → ranked passages: dense, BM25 and hybrid search, fusion, highlights, and the
context block for chatbots."""
