"""Evaluation against gold answers: datasets, metrics, reports."""
