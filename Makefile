# Apra Nova infrastructure: one entry point for tests, the demo and day-2 operations.
# `make help` lists the targets.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV   ?= .venv
PYTHON ?= python3
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export APRANOVA_REPO := $(CURDIR)

# Distro for single-scenario runs: debian12 (default) or debian13.
DISTRO ?= debian12
# Target environment for the operational targets: sandbox, staging or production.
ENV ?= sandbox

# What `make test` runs: every role on Debian 12, a subset on Debian 13.
# `make test-all` runs every scenario on both.
ROLES          := common
STACK          :=
TEST_MATRIX    := $(foreach r,$(ROLES),roles/$(r):debian12) roles/common:debian13 \
                  $(foreach s,$(STACK),molecule/$(s):debian12)
FULL_MATRIX    := $(foreach r,$(ROLES),roles/$(r):debian12 roles/$(r):debian13) \
                  $(foreach s,$(STACK),molecule/$(s):debian12)

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

# ---------------------------------------------------------------- tooling
$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements.txt
	touch $@

.PHONY: venv
venv: $(VENV)/.installed ## Create the virtualenv with the pinned control-node tools

.PHONY: docker
docker: ## Make sure a Docker engine answers (installs and starts one on a bare Debian host)
	@.ci/ensure-docker

.PHONY: images
images: docker ## Build the Debian 12 and 13 test base images when missing or changed
	@.ci/build-base-image debian12
	@.ci/build-base-image debian13

# ---------------------------------------------------------------- tests
.PHONY: lint
lint: venv ## yamllint and ansible-lint (production profile) over everything
	yamllint --strict .
	ansible-lint

.PHONY: app-test
app-test: ## The app's pytest suite against a real PostgreSQL and Redis (started from Debian's packages)
	.ci/app-test

.PHONY: app-image
app-image: docker images ## Build the app image on a local base and smoke-test it
	.ci/app-image

.PHONY: bench-reports
bench-reports: ## Report generation benchmark: rows/s and peak RSS at 100k and 1M rows
	.ci/bench-reports

.PHONY: test
test: venv images lint app-test app-image ## Everything CI runs: lint, app tests, image, every Molecule scenario
	.ci/scenarios $(TEST_MATRIX)

.PHONY: test-all
test-all: venv images lint app-test app-image ## The whole matrix: every scenario on Debian 12 and 13
	.ci/scenarios $(FULL_MATRIX)

.PHONY: test-role
test-role: venv images ## One role's scenario: make test-role ROLE=common [DISTRO=debian13]
	@test -n "$(ROLE)" || { echo "usage: make test-role ROLE=name [DISTRO=debian13]"; exit 2; }
	$(if $(filter app,$(ROLE)),.ci/app-image)
	.ci/scenarios roles/$(ROLE):$(DISTRO)

.PHONY: test-stack
test-stack: venv images ## One whole-stack scenario: make test-stack SCENARIO=default
	.ci/scenarios molecule/$(or $(SCENARIO),default):$(DISTRO)
