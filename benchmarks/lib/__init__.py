"""What the benchmark scripts share: recording results, the temporal protocol and metrics of
expert finding, bootstrap intervals, built data dirs, and helper processes (load driver,
index server). Imported as ``benchmarks.lib.*``; run benchmarks from the project root with
``python -m benchmarks.<name>``."""
