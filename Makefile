# XAI for Health — course kit. The two commands: `make lab` (open the course) and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
LAB_CONFIG := $(VENV)/.lab-config
export TQDM_DISABLE := 1
export HF_HUB_OFFLINE := 1

.PHONY: setup lab serve test test-slides labs slides execute bench robustness scorecard models verify-models site lint clean

setup: $(STAMP) $(LAB_CONFIG)  ## build .venv from requirements.txt, install xaihealth (editable) and etc/prefix

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -qq -r requirements.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .  # setuptools from the lock: no download
	touch $(STAMP)

# etc/prefix mirrors the environment's prefix (sys.prefix): the JupyterLab settings, page config (no build
# prompt) and server config (file browser) of the course; postBuild copies the same tree on Binder
$(LAB_CONFIG): $(shell find etc/prefix -type f) | $(STAMP)
	cp -R etc/prefix/. $(VENV)/
	touch $(LAB_CONFIG)

# root (containers, CI) must say so explicitly to Jupyter
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root)
LAB_ARGS ?=
PORT ?= 8000

lab: setup        ## start JupyterLab on the course, on its start page START.md
	$(VENV)/bin/jupyter lab --ServerApp.root_dir=$(CURDIR) --LabApp.default_url=/lab/tree/START.md $(ROOT_FLAG) $(LAB_ARGS)

test: setup       ## run the whole suite: package tests, notebooks (nbval), labs, slides, environment
	$(PY) -m pytest

SHOTS ?=
test-slides: setup  ## only the slide tests: build + headless-Chromium walk of every deck (SHOTS=dir saves screenshots)
	XAIHEALTH_SLIDE_SHOTS=$(SHOTS) $(PY) -m pytest -p no:cacheprovider -o addopts="" -q tests/test_slides.py tests/test_slides_browser.py

labs: setup       ## regenerate labs/*.ipynb from solutions/*.py
	$(PY) -m xaihealth.tooling.labs

execute: setup    ## re-run every lecture and solution notebook and store its outputs in the .ipynb pair
	cd notebooks && ../$(VENV)/bin/jupytext --to ipynb --execute [0-9]*.py
	cd solutions && ../$(VENV)/bin/jupytext --to ipynb --execute [0-9]*.py

slides: setup     ## build slides/*.slides.html (offline reveal.js) from the lecture notebooks
	$(PY) -m xaihealth.tooling.slides

bench: setup      ## time every notebook in a fresh kernel and every generator -> benchmarks/*.md
	$(PY) -m xaihealth.tooling.bench
	$(PY) -m xaihealth.tooling.bench_generators

.PHONY: bench-serving
bench-serving: setup  ## module 07's service under load: queue vs inline p99, explain/predict cost -> benchmarks/serving.md (~9 min)
	$(PY) -m xaihealth.serving.bench

SEEDS ?= 1 2 3 4 5
NB ?=
robustness: setup ## every notebook with base seeds $(SEEDS) -> benchmarks/robustness.md (resumable; NB=path for one)
	$(PY) -m xaihealth.tooling.robustness $(NB) --seeds "$(SEEDS)"

scorecard: setup  ## execute the lectures that record rows -> benchmarks/scorecard.md and scorecard.json
	$(PY) -m xaihealth.tooling.scorecard

# grading (instructors): autograde a lab's collected notebooks with nbgrader; time it
.PHONY: grade bench-grading check-kits
LAB ?= 03
SUBMISSIONS ?=
JOBS ?= 2
N ?= 100
grade: setup      ## make grade LAB=03 SUBMISSIONS=folder-or-zip [JOBS=2] -> grading/$(LAB)/: grades.csv, feedback/, marking.md
	@test -n "$(SUBMISSIONS)" || { echo "make grade needs SUBMISSIONS=<folder or .zip of the students' notebooks>, e.g. make grade LAB=03 SUBMISSIONS=collected/"; exit 2; }
	$(PY) -m xaihealth.instructor.grade --lab $(LAB) --submissions "$(SUBMISSIONS)" --out grading/$(LAB) --jobs $(JOBS)

check-kits: setup  ## build each lab's grading kit (make grade does it) and run its solution in it [LABS="03 06"]
	$(PY) -m xaihealth.instructor.kit $(LABS)

bench-grading: setup  ## grade N (100) solved copies of lab LAB with JOBS workers -> benchmarks/grading.md
	$(PY) -m xaihealth.instructor.grade --lab $(LAB) --bench $(N) --jobs $(JOBS)

# the student release (instructors): labs, lectures, slides, data and the package, without solutions or
# references; the checkers' expected values are recorded from the solutions (about 2 minutes)
.PHONY: release
RELEASE ?= dist/xaihealth-student
release: setup    ## make release [RELEASE=dist/xaihealth-student] -> that folder and a .zip of it
	$(PY) -m xaihealth.instructor.release --out $(RELEASE)

models: setup     ## retrain every shipped checkpoint (scripts/train_*.py) -> datasets/models/
	for script in scripts/train_*.py; do $(PY) $$script || exit 1; done

verify-models: setup  ## retrain every checkpoint in a scratch folder; metrics must match the manifest
	$(PY) -m xaihealth.tooling.verify_models

site: setup       ## build the course website (docs/_build/html, offline) from the executed notebooks, labs, slides
	$(PY) -m xaihealth.tooling.site

serve: setup      ## module 07's service, embedded profile: app on http://127.0.0.1:$(PORT) + explanation worker
	$(PY) -m xaihealth.serving --port $(PORT)

lint: setup
	$(VENV)/bin/ruff check src tests scripts

clean:
	rm -rf $(VENV) .pytest_cache
