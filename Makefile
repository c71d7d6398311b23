PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup setup-test demo test diagrams docs bench clean

setup:
	@PYTHON=$(PYTHON) scripts/bootstrap.sh

setup-test:
	@PYTHON=$(PYTHON) scripts/bootstrap.sh test

demo: setup
	@mkdir -p out
	$(BIN)/tuneplan recommend facts/profiles/beginner.yaml --format markdown --output out/demo.md --graph out/demo.svg
	@echo "wrote out/demo.md and out/demo.svg"
	@$(BIN)/tuneplan recommend facts/profiles/beginner.yaml --format text

test: setup-test
	$(BIN)/python -m pytest -q

bench: setup
	@PYTHON=$(PYTHON) scripts/bootstrap.sh bench
	$(BIN)/python bench/bench.py

diagrams: setup
	$(BIN)/tuneplan diagram --out diagrams/

docs: setup
	$(BIN)/tuneplan list sources --format markdown > docs/sources.md.tmp && mv docs/sources.md.tmp docs/sources.md

clean:
	rm -rf $(VENV) out build *.egg-info
