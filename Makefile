# genhep: `make run` and `make test` work on a fresh machine (they create .venv).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
TORCH  ?= torch==2.13.0
EXTRAS ?= dev,sweep,slurm,hep
STAMP  := $(VENV)/.installed-$(EXTRAS)
PYTEST_ARGS ?=
BENCH_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help venv run test test-full test-jetnet bench lint format clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade --quiet pip
	# torch first: the pinned CPU wheel, so nothing pulls a multi-GB CUDA build
	$(BIN)/pip install --quiet $(TORCH)

$(STAMP): $(BIN)/python pyproject.toml setup.py
	$(BIN)/pip install --quiet -e ".[$(EXTRAS)]"
	# FPND reads jetnet's ParticleNet weights and statistics from the installed distribution;
	# none of jetnet's dependencies is needed (they pin numpy < 2)
	$(BIN)/pip install --quiet --no-deps jetnet==0.2.5
	touch $@

venv: $(STAMP)  ## create .venv and install genhep with the dev extra

run: $(STAMP)  ## Pythia jet images -> a small SARM on CPU -> evaluation, report and figures
	$(BIN)/genhep train experiment=quickstart
	$(BIN)/genhep report "$$(ls -td outputs/quickstart/*/ | head -1)"

test: $(STAMP)  ## the default test suite (no slow tests)
	$(BIN)/pytest $(PYTEST_ARGS)

test-full: $(STAMP)  ## every test, slow ones included
	$(BIN)/pytest -m "" $(PYTEST_ARGS)

test-jetnet:  ## genhep against the jetnet package (own .venv-jetnet: jetnet needs numpy < 2)
	$(MAKE) test VENV=.venv-jetnet EXTRAS=dev,hep,jetnet \
		PYTEST_ARGS="tests/test_jetnet_reference.py tests/test_efp_reference.py tests/test_efp.py tests/test_fpnd_reference.py tests/test_frechet_kernel.py tests/test_jetnet_side.py tests/test_calo_challenge_script.py $(PYTEST_ARGS)"

bench: $(STAMP)  ## speed benchmarks -> benchmarks/results/*.json (BENCH_ARGS="--device cuda": GPU)
	$(BIN)/python -m benchmarks.run $(BENCH_ARGS)

lint: $(STAMP)  ## ruff check + format check
	$(BIN)/ruff check genhep tests benchmarks
	$(BIN)/ruff format --check genhep tests benchmarks

format: $(STAMP)  ## apply ruff fixes and formatting
	$(BIN)/ruff check --fix genhep tests benchmarks
	$(BIN)/ruff format genhep tests benchmarks

clean:  ## remove .venv and run outputs
	rm -rf $(VENV) outputs multirun .pytest_cache .ruff_cache
