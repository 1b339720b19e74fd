# Everything a fresh clone needs is installed from here: the virtualenv and its
# pinned packages, the CDK CLI from package-lock.json and the Lambda layer.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
ENV ?= dev
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
# The embedded default checks every request against the template's IAM (iterft/local/iam) in tests and the demo.
export ITERFT_IAM_CHECKS := 1

.PHONY: setup test test-fast lint format demo synth deploy diff destroy bench clean smoke doctor

setup: $(VENV)/.installed node_modules/.installed build/layer/.built build/native/.built

$(VENV)/.installed: requirements.txt requirements-dev.txt constraints.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -r requirements-dev.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The C extensions (native/NAME.c, module iterft_NAME: the leakage check's filter, the validator's text
# rules), compiled for the virtualenv's Python and put on its path (a .pth); without them the same answers
# come from Python, slower. -ftree-vectorize: GCC's -O2 leaves the word count one byte at a time (12x
# slower); clang vectorises at -O2 already.
NATIVE_SOURCES := $(wildcard native/*.c)
build/native/.built: $(NATIVE_SOURCES) $(VENV)/.installed
	rm -rf build/native && mkdir -p build/native
	include="$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"; \
	suffix="$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')"; \
	for source in $(NATIVE_SOURCES); do \
		$(CC) -O2 -ftree-vectorize -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers \
			-shared -fPIC \
			-I"$$include" "$$source" -o "build/native/iterft_$$(basename "$$source" .c)$$suffix" || exit 1; \
	done
	$(BIN)/python -c 'import pathlib, site; pathlib.Path(site.getsitepackages()[0], "iterft-native.pth").write_text(str(pathlib.Path("build/native").resolve()) + "\n")'
	touch $@

# The Lambda layer: the runtime's libraries (boto3 and botocore included) for Lambda's Python 3.11 on
# x86_64, every transitive package at its constraints.txt version (the one the tests run), and the
# extensions above when the virtualenv's Python is Lambda's (CPython 3.11 on x86_64 Linux).
build/layer/.built: lambda/requirements.txt constraints.txt build/native/.built
	rm -rf build/layer
	$(BIN)/pip install --quiet --disable-pip-version-check --target build/layer/python \
		--platform manylinux2014_x86_64 --implementation cp --python-version 3.11 \
		--only-binary=:all: -c constraints.txt -r lambda/requirements.txt
	cp build/native/*.cpython-311-x86_64-linux-gnu.so build/layer/python/ 2>/dev/null \
		|| echo "note: the virtualenv's Python is not CPython 3.11 on x86_64: the layer has no C extensions (Lambda runs their Python equivalents)"
	touch $@

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	PYTHONPATH=lambda $(BIN)/lint-imports
	$(BIN)/mypy

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Two runs: moto's mock_aws (unit and emulator tests) resets every moto backend of its process when it
# exits, which would wipe a worker's embedded deployment if an integration module ran after it there.
test: setup lint
	$(BIN)/pytest -n 2 --dist loadfile --durations=10 --ignore=tests/integration
	$(BIN)/pytest -n 2 --dist loadfile --durations=15 tests/integration

# The inner loop: the plain-logic tests alone (no synth, no moto, no embedded default), in one process.
# `make test` still runs them with everything else.
test-fast: setup
	$(BIN)/pytest -q -p no:xdist tests/unit/test_logic_*.py tests/unit/test_validation_properties.py

# KEEP=1 keeps the embedded default running afterwards (Ctrl-C stops it), for iterft commands against it.
demo: setup
	$(BIN)/python -m iterft.demo $(if $(KEEP),--keep,)

# The smallest honest round (README "Proving a new account"): on ENV's deployment when ENV is given
# (`make smoke ENV=smoke YES=1`), else on a fresh embedded default (config/smoke.yaml).
smoke: setup
	$(BIN)/iterft smoke $(if $(filter file,$(origin ENV)),--local,--env $(ENV)) $(if $(YES),--yes,)

doctor: setup
	$(BIN)/iterft doctor --env $(ENV)

synth: setup
	npx cdk synth -c env=$(ENV) --quiet

diff: setup
	npx cdk diff -c env=$(ENV)

deploy: setup
	npx cdk deploy -c env=$(ENV)

destroy: setup
	npx cdk destroy -c env=$(ENV)

bench: setup
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) node_modules build cdk.out out .pytest_cache
