# make run: set up .venv and start the app.  make test: set up .venv and run the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test bench screenshots clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip

$(VENV)/.installed: requirements.txt $(BIN)/activate
	$(BIN)/pip install -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements-dev.txt $(VENV)/.installed
	$(BIN)/pip install -r requirements-dev.txt
	touch $@

run: $(VENV)/.installed
	$(BIN)/streamlit run app.py

test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV)

bench: $(VENV)/.installed-dev
	$(BIN)/python -m bench.run

# Refresh the README's pictures of the page (docs/*.png) from the browser tests.
screenshots: $(VENV)/.installed-dev
	DIGITNET_SCREENSHOTS=docs $(BIN)/python -m pytest tests/test_browser.py -k "drawn_digits or presenter_mode"
