# make run: set up .venv and start the app.  make test: set up .venv and run the tests.
# make check: the tests that need no browser, server, PostgreSQL or training: a few minutes, before a commit.
# make serve: the app for a room, one replica per core behind nginx (REPLICAS=N, PORT=8501).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run serve test check bench screenshots clean
REPLICAS ?= $(shell nproc)
PORT ?= 8501

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip

$(VENV)/.installed: requirements.txt $(BIN)/activate
	$(BIN)/pip install -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements-dev.txt $(VENV)/.installed
	$(BIN)/pip install -r requirements-dev.txt
	touch $@

# glibc gives each of Streamlit's script threads a malloc arena of its own; two keep the memory of
# visitors who have gone from staying with the process (bench.room: +69 MB after 300 visitors, +29 MB with 2).
export MALLOC_ARENA_MAX ?= 2

run: $(VENV)/.installed
	$(BIN)/streamlit run app.py

serve: $(VENV)/.installed
	@command -v nginx >/dev/null || test -x /usr/sbin/nginx || \
		{ echo "make serve needs nginx: sudo apt-get install -y nginx" >&2; exit 1; }
	exec $(BIN)/python -m digitnet serve --replicas $(REPLICAS) --port $(PORT)

test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest

check: $(VENV)/.installed-dev
	$(BIN)/python -m pytest -m "not browser and not server and not postgres and not training"

clean:
	rm -rf $(VENV)

bench: $(VENV)/.installed-dev
	$(BIN)/python -m bench.run
	$(BIN)/python -m bench.room
	$(BIN)/python -m bench.strangers
	$(BIN)/python -m bench.wall
	$(BIN)/python -m bench.database
	$(BIN)/python -m bench.live

# Refresh the README's pictures of the page (docs/*.png) from the browser tests.
screenshots: $(VENV)/.installed-dev
	DIGITNET_SCREENSHOTS=docs $(BIN)/python -m pytest tests/test_browser.py tests/test_room_wall.py -k "drawn_digits or presenter_mode or three_phones"
