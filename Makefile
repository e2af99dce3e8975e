# Two commands do all the set-up on a fresh machine:
#   make book   - venv, packages, data, MathJax, then the website in _build/html (offline)
#   make test   - the same set-up, then everything CI runs (unit tests, notebooks, book, site check)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
READY  := $(VENV)/.ready
NB     ?=
KIT_ARGS ?=  # e.g. KIT_ARGS="--interpreter 3.12=/usr/bin/python3.12" when python3.12 is not on PATH
# jupyter lab refuses to start as root without --allow-root (containers and cloud VMs often run as root)
USER_ID ?= $(shell id -u)

.PHONY: setup data mathjax book test lab student offline-kit execute check-notebooks clean

$(READY): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $@

setup: $(READY)  ## create the venv and install the pinned packages (skipped when done)

data: setup  ## fetch every dataset and model of the registry into the cache (skipped when cached)
	$(BIN)/python -m utils.data

mathjax:  ## MathJax 3 from the npm registry, served locally by the website
	$(BIN)/python scripts/fetch_mathjax.py

book: setup data mathjax  ## build the website into _build/html with the committed outputs
	$(BIN)/jupyter-book build . --all -W -n --keep-going
	@echo "Website built: open _build/html/index.html (or: $(BIN)/python -m http.server -d _build/html 8000 -b 127.0.0.1)"

test:  ## the set-up, then everything CI runs, each stage timed
	bash scripts/test_all.sh

lab: setup  ## JupyterLab on 127.0.0.1 only, with a login token (printed below); --allow-root only for root
	$(BIN)/jupyter lab --ip=127.0.0.1 --no-browser --notebook-dir=.$(if $(filter 0,$(USER_ID)), --allow-root)

student: setup  ## the student version of every chapter (solutions out, stubs in) into student/
	$(BIN)/python scripts/make_student.py

offline-kit: setup data  ## a folder for rooms without a network: wheels for Python 3.11 and 3.12, the data cache, a README
	$(BIN)/python scripts/make_offline_kit.py $(KIT_ARGS)

execute: setup data  ## run a notebook in full mode and stamp it: make execute NB=notebooks/01_history.ipynb
	@test -n "$(NB)" || (echo "usage: make execute NB=notebooks/NN_name.ipynb" && exit 2)
	$(BIN)/python -m utils.notebook execute $(NB)

check-notebooks: setup  ## list notebooks whose committed outputs are stale, errored or from quick mode
	$(BIN)/python -m utils.notebook check notebooks/*.ipynb

clean:
	rm -rf _build
