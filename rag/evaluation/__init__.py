"""Measuring retrieval: gold sets and SQuAD datasets, ranx metrics per mode, reports."""
