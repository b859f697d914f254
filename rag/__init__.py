"""Multilingual semantic retrieval over news articles: passages with their sources."""

__version__ = "0.1.0"
