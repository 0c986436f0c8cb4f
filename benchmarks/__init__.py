"""Benchmarks: one runnable script per benchmark (see README.md here); shared code in lib/."""
