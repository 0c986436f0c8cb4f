"""The store: SQLite through sqlite-utils, the single source of truth (store.py), its
schema and migrations (schema.py), and the validated records imports write (records.py)."""
