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

# What `make test` runs (CI has 2 cores and a 45-minute budget): every role on
# Debian 12 (the certbot scenario converges nginx too and runs the nginx role's own
# refusal tests; the app scenario converges docker, postgresql, redis and nginx on one host), and Debian 13 through the multihost stack,
# which converges every role with site.yml and runs the stack tests. The one-host stack
# (molecule/default) runs the same site.yml and tests on one instance: it is in
# `make test-all` only, with every role on both distros and nginx alone.
# Longest first: .ci/scenarios runs two at a time.
ROLES          := app backup certbot postgresql docker common storage redis
ALL_ROLES      := app backup certbot nginx postgresql docker common storage redis monitoring
TEST_MATRIX    := roles/app:debian12 molecule/multihost:debian13 \
                  $(foreach r,$(filter-out app,$(ROLES)),roles/$(r):debian12)
# The multihost scenario's two distros share instance names (.ci/scenarios runs them one
# after the other): one comes first and one last, so neither waits for the other.
FULL_MATRIX    := molecule/multihost:debian13 \
                  $(foreach r,$(ALL_ROLES),roles/$(r):debian12 roles/$(r):debian13) \
                  molecule/default:debian12 molecule/default:debian13 molecule/multihost:debian12

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
	@command -v debootstrap >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
	@# Side by side: debootstrap mostly waits on downloads and the disk.
	@.ci/build-base-image debian12 & twelve=$$!; .ci/build-base-image debian13; wait $$twelve

.PHONY: docs
docs: venv ## Regenerate the variables table in each role's README from meta/argument_specs.yml
	python tools/role_docs.py

# ---------------------------------------------------------------- tests
.PHONY: lint
lint: venv ## yamllint, ansible-lint (production profile), and the CI workflow against GitHub's schema
	yamllint --strict .
	ansible-lint
	check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml

.PHONY: rules-test
rules-test: ## The alert rules in monitoring/: promtool check rules, then promtool test rules on synthetic series
	.ci/promtool check rules monitoring/rules/*.yml
	.ci/promtool test rules monitoring/tests/*.yml

.PHONY: inventory-test
inventory-test: venv ## The inventories and the preflight, on this machine only (no host is touched)
	python -m pytest -q -p no:cacheprovider tests/

.PHONY: app-test
app-test: ## The app's pytest suite against a real PostgreSQL and Redis (started from Debian's packages)
	.ci/app-test

.PHONY: app-image
app-image: docker images ## Build the app image on a local base and smoke-test it
	.ci/app-image

.PHONY: bench-storage
bench-storage: ## APROVOVA on S3 (a real SeaweedFS) against local disk: a 1M-row CSV made, stored and downloaded
	.ci/bench-storage

.PHONY: bench-reports
bench-reports: ## Report generation benchmark: rows/s and peak RSS at 100k and 1M rows
	.ci/bench-reports

.PHONY: bench-converge
bench-converge: venv images app-image ## Whole-stack converge on a fresh sandbox, then no-op ones (also docker, postgresql, redis, nginx alone), linear and Mitogen: seconds, tasks, changes
	.ci/bench-converge

# The checks that run on this machine (lint, alert rules, inventories, the app's tests) use a
# fraction of what the scenarios do, and the scenarios' first minutes mostly wait on apt and
# image loads: they run beside the scenarios, and their output follows the scenarios' summary.
.PHONY: checks
checks: lint rules-test inventory-test app-test ## lint, alert rules, inventory and app tests (no Molecule)

.PHONY: test
test: venv images app-image ## Everything CI runs: lint, app tests, image, every Molecule scenario
	@.ci/with-checks .ci/scenarios $(TEST_MATRIX)

.PHONY: test-all
test-all: venv images app-image ## The whole matrix: every scenario on Debian 12 and 13
	@.ci/with-checks .ci/scenarios $(FULL_MATRIX)

.PHONY: test-role
test-role: venv images ## One role's scenario: make test-role ROLE=common [DISTRO=debian13]
	@test -n "$(ROLE)" || { echo "usage: make test-role ROLE=name [DISTRO=debian13]"; exit 2; }
	$(if $(filter app,$(ROLE)),.ci/app-image)
	.ci/scenarios roles/$(ROLE):$(DISTRO)

.PHONY: test-stack
test-stack: venv images ## One whole-stack scenario: make test-stack SCENARIO=default
	.ci/scenarios molecule/$(or $(SCENARIO),default):$(DISTRO)

# ---------------------------------------------------------------- the stack
INVENTORY  := inventories/$(ENV)/hosts.yml
# Real environments keep secrets in an ansible-vault file: give its password through
# ANSIBLE_VAULT_PASSWORD_FILE, or be asked for it.
VAULT_ARGS := $(if $(or $(filter sandbox,$(ENV)),$(ANSIBLE_VAULT_PASSWORD_FILE)),,--ask-vault-pass)
# LOGIN=root (or the provider's first user) for the first run on a fresh server, before the
# deploy user exists; later runs log in as deploy, as the inventory says.
PLAYBOOK   := ansible-playbook -i $(INVENTORY) $(VAULT_ARGS) $(if $(LOGIN),-e ansible_user=$(LOGIN))
# ACCEL=mitogen runs the plays with Mitogen's strategy (plugins/strategy): a no-op converge in a
# third of the time. Opt-in: the scenarios of `make test` run on Ansible's linear strategy, and
# on Mitogen's with ACCEL=mitogen (CI's weekly run does both).
ifeq ($(ACCEL),mitogen)
export ANSIBLE_STRATEGY := mitogen_linear
endif
SANDBOX    := apranova-sandbox

.PHONY: demo
demo: venv images app-image ## The whole stack in a local sandbox container, with demo data and a smoke check
	ansible-playbook -i inventories/sandbox/hosts.yml playbooks/sandbox.yml
	ansible-playbook -i inventories/sandbox/hosts.yml playbooks/site.yml
	ansible-playbook -i inventories/sandbox/hosts.yml playbooks/demo.yml

.PHONY: demo-down
demo-down: ## Remove the sandbox container and its data
	docker rm -f -v $(SANDBOX) >/dev/null 2>&1 || true
	@echo "sandbox removed (its secrets stay in inventories/sandbox/group_vars/all/secrets.yml)"

.PHONY: up
up: venv ## Converge everything on ENV (site.yml)
	$(PLAYBOOK) playbooks/site.yml

.PHONY: provision
provision: venv ## The host roles only on ENV
	$(PLAYBOOK) playbooks/provision.yml

.PHONY: deploy
deploy: venv ## Deploy the app on ENV (RELEASE=... to pick one; CONTRACT=1 runs contract migrations after the switch)
	$(PLAYBOOK) playbooks/deploy.yml $(if $(RELEASE),-e app_release=$(RELEASE)) $(if $(CONTRACT),-e app_contract_migrations=true)

.PHONY: rollback
rollback: venv ## Roll back to the previous release on ENV (RELEASE=... to name one)
	$(PLAYBOOK) playbooks/rollback.yml $(if $(RELEASE),-e app_rollback_release=$(RELEASE))

.PHONY: migrate
migrate: venv ## Run the app's migrations on ENV, in the serving release (deploys run them too)
	ansible app -i $(INVENTORY) $(VAULT_ARGS) -b -m ansible.builtin.shell \
	  -a 'docker exec $$(docker ps -q --filter label=apranova_role=web | head -1) python3 manage.py migrate --noinput'

.PHONY: logs
logs: venv ## The last lines of the app's containers on ENV
	ansible app -i $(INVENTORY) $(VAULT_ARGS) -b -m ansible.builtin.shell \
	  -a 'for c in $$(docker ps --filter label=apranova_role --format "{{.Names}}"); do echo "== $$c"; docker logs --tail 50 $$c 2>&1; done'

.PHONY: lock-status
lock-status: venv ## Who holds each app host's deploy lock, and whether it looks stale
	$(PLAYBOOK) playbooks/lock-status.yml

.PHONY: unlock
unlock: venv ## Break a stale deploy lock: make unlock ENV=... CONFIRM=<host> (refuses a live one)
	@test -n "$(CONFIRM)" || { echo "usage: make unlock ENV=name CONFIRM=<host's inventory name>"; exit 2; }
	$(PLAYBOOK) playbooks/unlock.yml --limit $(CONFIRM) -e app_unlock_confirm=$(CONFIRM)

.PHONY: audit
audit: venv ## What an outside scan of ENV finds (TLS, SSH, headers, probes, sockets), as a PASS/FAIL table
	$(PLAYBOOK) playbooks/audit.yml

# status and audit-log print their report as a YAML block (a table, a log) rather than a JSON string.
.PHONY: healthcheck
healthcheck: venv ## Each host's service-by-service check (apranova-healthcheck), then make status; fails if either does
	rc=0; $(PLAYBOOK) playbooks/healthcheck.yml || rc=$$?; \
	ANSIBLE_CALLBACK_RESULT_FORMAT=yaml $(PLAYBOOK) playbooks/status.yml || rc=$$?; exit $$rc

.PHONY: status
status: venv ## One table for every host of ENV (release, deploy, lock, backup, certificates, disk, services); fails naming what needs attention
	ANSIBLE_CALLBACK_RESULT_FORMAT=yaml $(PLAYBOOK) playbooks/status.yml

.PHONY: audit-log
audit-log: venv ## The deploy audit log of every app host of ENV, newest last, prefixed by host [LINES=N per host]
	ANSIBLE_CALLBACK_RESULT_FORMAT=yaml $(PLAYBOOK) playbooks/audit-log.yml $(if $(LINES),-e audit_log_lines=$(LINES))

# exec runs on the first app host (HOST= picks one): a command that changes data runs once.
# CMD and MESSAGE reach the plays through the environment, so no quote in them needs escaping.
.PHONY: exec
exec maintenance: export APRANOVA_EXEC_COMMAND = $(CMD)
exec maintenance: export APRANOVA_MAINTENANCE_MESSAGE = $(MESSAGE)
exec: venv ## A Django management command in a one-off container of the serving release: make exec ENV=... CMD="clearsessions" [HOST=name]
	@test -n "$$APRANOVA_EXEC_COMMAND" || { echo 'usage: make exec ENV=name CMD="management command and arguments" [HOST=name]'; exit 2; }
	ANSIBLE_CALLBACK_RESULT_FORMAT=yaml $(PLAYBOOK) playbooks/exec.yml $(if $(HOST),--limit $(HOST))

# Ansible gives modules no terminal: the play writes the command (ssh -t, then docker exec -it)
# and make runs it from this terminal.
.PHONY: shell
shell: venv ## A Django shell in the serving web container of ENV's first app host [HOST=name]
	$(PLAYBOOK) playbooks/shell.yml $(if $(HOST),--limit $(HOST)) -e shell_script=$(CURDIR)/.cache/shell-$(ENV).sh
	$(CURDIR)/.cache/shell-$(ENV).sh

.PHONY: maintenance
maintenance: venv ## The maintenance page (503) on every web host of ENV: make maintenance ENV=... ON=1|0 [MESSAGE="..."]
	@test "$(ON)" = 1 || test "$(ON)" = 0 || { echo 'usage: make maintenance ENV=name ON=1|0 [MESSAGE="back at 14:00 UTC"]'; exit 2; }
	$(PLAYBOOK) playbooks/maintenance.yml -e maintenance_on=$(ON)

.PHONY: internal-ca
internal-ca: venv ## The CA for TLS between hosts (db or cache apart from the app), into ENV's vault: make internal-ca ENV=...
	ansible-playbook playbooks/internal-ca.yml -e ca_env=$(ENV)

.PHONY: new-env
new-env: venv ## A new environment from templates/new-env: NAME= HOST= DOMAIN= EMAIL= SSH_KEY= [ACME=staging] [BACKUP_REPO=sftp:...]
	ansible-playbook playbooks/new-env.yml -e env_name=$(NAME) -e env_host=$(HOST) -e env_domain=$(DOMAIN) \
	  -e env_email=$(EMAIL) -e env_ssh_key_file=$(SSH_KEY) -e env_acme=$(or $(ACME),production) \
	  -e env_backup_repository=$(BACKUP_REPO)

# ---------------------------------------------------------------- backups
.PHONY: backup backup-db backup-reports restore bench-backup
backup: venv ## Back up now (databases, APROVOVA, config) on ENV [HOST=name]
	$(PLAYBOOK) playbooks/backup.yml $(if $(HOST),--limit $(HOST))

backup-db backup-reports: backup ## The seed's names: each snapshot holds the databases and the reports

restore: venv ## make restore ENV=... HOST=name CONFIRM=yes-restore-name [SNAPSHOT=id] [WHAT=all|database|aprovova] [DELETE_NEWER=true] [UNTIL=time | POINT=name]
	@test -n "$(HOST)" && test -n "$(CONFIRM)" || { echo "usage: make restore ENV=... HOST=name CONFIRM=yes-restore-name [SNAPSHOT=id] [WHAT=all|database|aprovova]"; exit 2; }
	$(PLAYBOOK) playbooks/restore.yml --limit $(HOST) \
	  -e restore_confirm=$(CONFIRM) -e restore_snapshot=$(or $(SNAPSHOT),latest) \
	  -e restore_database=$(if $(filter aprovova,$(WHAT)),false,true) \
	  -e restore_aprovova=$(if $(filter database,$(WHAT)),false,true) \
	  -e restore_aprovova_delete_newer=$(or $(DELETE_NEWER),false) \
	  -e '{"restore_until": "$(UNTIL)", "restore_point": "$(POINT)"}'

bench-backup: venv images ## Time backup and restore of 1,000,000 payments (not in make test)
	cd roles/backup && MOLECULE_DISTRO=$(DISTRO) MOLECULE_INSTANCE=backup-bench-$(DISTRO) molecule test --scenario-name bench
