# wavepack: `make run` serves the demo warehouse, `make test` runs the whole suite.
# Both set everything up first (venv, Python packages, Debian packages) and are
# fast when it is already there.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
APT_PACKAGES := libzbar0 chromium cups cups-bsd fonts-noto-cjk poppler-utils nginx postgresql-client
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed

.PHONY: run serve-prod test bench soak soak-faults lint setup apt clean security-table audit

setup: apt $(STAMP) $(NODE_STAMP)

# Debian packages, installed only when missing (root or sudo needed the first time);
# Node.js and npm too when the machine has no npm (the ZPL label renderer runs on Node).
# Debian's nginx package starts the system nginx on port 80 when it is installed (and fails
# the install when that start fails); wavepack runs its own nginx (make serve-prod), so a
# temporary policy-rc.d, only where the machine has none, tells it not to start.
apt:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	command -v npm >/dev/null 2>&1 || missing="$$missing nodejs npm"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  policy=""; if [ ! -e /usr/sbin/policy-rc.d ]; then policy=/usr/sbin/policy-rc.d; \
	    printf '#!/bin/sh\n[ "$$1" = nginx ] && exit 101\nexit 0\n' | $$SUDO tee $$policy >/dev/null; \
	    $$SUDO chmod 755 $$policy; fi; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  rc=$$?; [ -z "$$policy" ] || $$SUDO rm -f $$policy; exit $$rc; \
	fi

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "installing Python packages into $(VENV) (log: $(VENV)/pip.log)"
	@$(PIP) install -q --disable-pip-version-check --upgrade pip > $(VENV)/pip.log 2>&1 || \
	  { cat $(VENV)/pip.log; exit 1; }
	@$(PIP) install -q --disable-pip-version-check -e '.[test]' >> $(VENV)/pip.log 2>&1 || \
	  { cat $(VENV)/pip.log; exit 1; }
	@touch $(STAMP)

# zpl-renderer-js (package.json / package-lock.json), from the npm registry
$(NODE_STAMP): package.json package-lock.json
	@echo "installing Node packages (log: node_modules.log)"
	@npm ci --no-audit --no-fund --silent > node_modules.log 2>&1 || \
	  { cat node_modules.log; exit 1; }
	@touch $(NODE_STAMP)

run: setup
	@$(VENV)/bin/wavepack serve --demo

# production on one machine: one web process per core behind nginx, one worker
# (`wavepack serve-prod`, server/prod.py; docs/deploy.md). Needs DATABASE_URL=postgresql://…
# and SOCKETIO_MESSAGE_QUEUE=redis://…; SERVE_PROD_ARGS="-n 4 --port 8080" to choose.
serve-prod: setup
	@$(VENV)/bin/wavepack serve-prod $(SERVE_PROD_ARGS)

test: setup
	@$(PY) -m pytest -n auto -q $(PYTEST_ARGS)

bench: setup
	@$(PY) -m tests.bench.run $(BENCH_ARGS)

# docs/security.md's table of every route and socket event with the roles allowed, from
# probing a seeded app as each kind of caller (tests/security/table.py); run it after
# adding or changing a route or an event, and review the roles it writes
security-table: setup
	@$(PY) -m tests.security.table --write

# known vulnerabilities in the Python and Node packages (pip-audit, npm audit); exceptions
# with reason and expiry in tests/security/audit-ignore.yaml. With CI=true an audit service
# that does not answer (after one retry) fails it too (tests/security/audit.py)
audit: setup
	@$(PY) -m tests.security.audit

# W8's soak: a warehouse day against the production stack (wavepack serve-prod on
# PostgreSQL and Redis) for SOAK_MINUTES (10) minutes, its report and the command
# (tests/bench/load); then the fault runs when this tree has them (soak-faults).
# SOAK_ARGS="--handhelds 100" to change the load.
soak: setup
	@rc=0; SOAK_MINUTES=$${SOAK_MINUTES:-10} $(PY) -m tests.bench.load $(SOAK_ARGS) || rc=$$?; \
	if $(MAKE) -n soak-faults >/dev/null 2>&1; then $(MAKE) --no-print-directory soak-faults || rc=$$?; fi; \
	exit $$rc

# the long fault runs of issue 16 (tests/bench/faults.py; `make soak` calls this): kill -9 of
# a web process during scan bursts, PostgreSQL and Redis cut during traffic (through TCP
# proxies: the machine's own services are never stopped), the worker killed mid-print and
# mid-outbox. Needs PostgreSQL, Redis and nginx; FAULT_ARGS="--rounds 5 --only redis".
soak-faults: setup
	@$(PY) -m tests.bench.faults $(FAULT_ARGS)

lint: setup
	@$(VENV)/bin/ruff check server handheld printers tests --select F,E9,B --ignore B008,B905

clean:
	rm -rf $(VENV) build *.egg-info node_modules node_modules.log
