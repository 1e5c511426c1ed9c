# Two commands for a fresh clone:  make run  (install + launch the app),  make test  (install + run every test).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test install install-dev bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)

# Installed once per change of the requirements (a stamp file), so `make run` starts in seconds.
$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

run: install
	$(BIN)/python -m components.serve app.py

test: install-dev
	$(BIN)/python -m pytest -n 2 --dist loadfile

bench: install-dev
	for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache artifacts
