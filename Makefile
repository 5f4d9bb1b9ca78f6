.PHONY: setup demo test lint bench

setup:
	./scripts/setup.sh

demo: setup
	.venv/bin/crossmodel-matcher demo

test: setup
	.venv/bin/python -m pytest

lint: setup
	.venv/bin/ruff check src tests benchmarks scripts

bench: setup
	.venv/bin/python benchmarks/bench_core.py
