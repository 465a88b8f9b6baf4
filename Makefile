# The two commands of the quick start live in README.md; this file backs the second one.
PY ?= python3

.PHONY: install test services lint bench demo

install:
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'

services:
	bash scripts/services-up.sh

lint:
	$(PY) -m ruff check dialer tests bench

test: services install
	$(PY) -m ruff check dialer tests bench
	$(PY) -m pytest -q

bench: install
	$(PY) -m pytest bench -q --benchmark-enable

demo:
	$(PY) -m pip install --quiet . && dialer run
