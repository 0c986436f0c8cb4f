"""Derived search structures: dense (FAISS), sparse (BM25) and versioned snapshots.

This package knows row ids only; it never imports the store or member logic.
"""
