"""Import sources: each turns its own format into validated records (copmatch.store.records)."""
