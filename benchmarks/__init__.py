"""raysha benchmark suite: `python -m benchmarks` runs it and writes benchmarks/REPORT.md."""
