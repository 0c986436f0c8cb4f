"""Ranking: a loaded snapshot's retrieval and the pure-numpy scoring of passages,
documents and members, with priors and snippets. Knows row ids and arrays, never the store."""
