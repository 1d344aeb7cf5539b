# Two commands matter: `make test` and `make demo`. Both install what they need first.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
# .venv is the newest tested end, .venv-oldest the oldest (README, "Tested with").
VENV ?= .venv
VENV_BIN := $(VENV)/bin
IN_NETNS := scripts/in-netns
# loadgroup: tests marked xdist_group (the golden image's) share one worker and its build.
PYTEST := $(IN_NETNS) $(VENV_BIN)/pytest -n 2 --dist loadgroup --durations=5
ANSIBLE_ENV := ANSIBLE_COLLECTIONS_PATH=$(CURDIR)/.cache/collections
# Recursive, so it is expanded when a recipe runs, after setup has made .venv.
export PATH = $(if $(realpath .venv/bin),$(realpath .venv/bin):)$(shell printenv PATH)

.PHONY: setup test demo lint sanity unit static sandbox-tests molecule integration e2e build collection-link constraints \
	oldest release-check awx-check integration-and-e2e

setup:
	bash scripts/setup.sh

# Sanity and the oldest end run beside molecule: they mostly compute, molecule mostly waits
# on stand-ins. The golden image's cache starts empty, so a full run builds it once
# (tests/fixtures/golden.py).
test: setup lint build unit static release-check sandbox-tests
	source scripts/env.sh && rm -rf "$$CATTLE_CACHE/golden"
	$(MAKE) --no-print-directory -j3 --output-sync=target molecule sanity oldest
	$(MAKE) --no-print-directory integration-and-e2e
	bash scripts/check-leftovers.sh
	@echo "make test: all layers passed"

demo: setup
	bash scripts/demo.sh

collection-link:
	@mkdir -p .cache/collections/ansible_collections/cattle
	@ln -sfn ../../../.. .cache/collections/ansible_collections/cattle/immutable

lint: collection-link
	$(ANSIBLE_ENV) $(VENV_BIN)/ansible-lint
	$(VENV_BIN)/antsibull-changelog lint
	$(ANSIBLE_ENV) $(VENV_BIN)/ansible-doc --list cattle.immutable --type module | grep -q image_info
	@for module in plugins/modules/*.py; do \
	  $(ANSIBLE_ENV) $(VENV_BIN)/ansible-doc "cattle.immutable.$$(basename "$$module" .py)" >/dev/null; done
	@for filter in plugins/filter/*.yml; do \
	  $(ANSIBLE_ENV) $(VENV_BIN)/ansible-doc -t filter "cattle.immutable.$$(basename "$$filter" .yml)" >/dev/null; done
	@for lookup in plugins/lookup/*.py; do \
	  $(ANSIBLE_ENV) $(VENV_BIN)/ansible-doc -t lookup "cattle.immutable.$$(basename "$$lookup" .py)" >/dev/null; done

sanity:
	CATTLE_VENV=$(VENV) bash scripts/sanity.sh

# The oldest end's layers, on .venv-oldest.
oldest:
	$(MAKE) --no-print-directory VENV=.venv-oldest unit awx-check release-check sanity

# The collection as users get it: built, installed offline beside that end's amazon.aws
# (reused, not fetched), and run from there with this checkout off the collections path.
release-check:
	$(IN_NETNS) $(VENV_BIN)/pytest tests/release -q

# The AWX configure playbook (awx.awx) lints and passes the syntax check.
awx-check: collection-link
	$(IN_NETNS) $(VENV_BIN)/pytest tests/static/test_awx_data.py -q -k "syntax_check or ansible_lint"

unit:
	$(IN_NETNS) $(VENV_BIN)/pytest tests/unit -q

# The AWX data, the execution environment's build context and the CI example, checked offline.
static: collection-link
	$(IN_NETNS) $(VENV_BIN)/pytest -n 2 tests/static -q

sandbox-tests:
	$(PYTEST) tests/sandbox -q

# Every role's molecule scenarios against booted stand-ins (tests/molecule/README.md);
# `make molecule MOLECULE_SCENARIOS=image_validate` runs one role's.
molecule: collection-link
	$(IN_NETNS) bash tests/molecule/run.sh $(MOLECULE_SCENARIOS)

integration:
	$(PYTEST) tests/integration -q

e2e:
	$(PYTEST) tests/e2e -q

# Both layers in one run, the demo first (marked `first`): loadgroup hands each worker at
# most two tests ahead, so one worker runs the demo (about 8 minutes) while the other takes
# the integration tests, instead of idling beside the demo at the end.
# Three workers on two cores: these tests wait a good part of their time (health timers,
# drains, canary pauses, lease expiries, stand-ins booting); a third worker fills those waits
# (22.6 -> 19.1 minutes on the 2-core machine kind).
integration-and-e2e:
	$(IN_NETNS) $(VENV_BIN)/pytest -n 3 --dist loadgroup --durations=5 tests/integration tests/e2e -q

build:
	bash scripts/build-check.sh

# Refreeze every transitive pin of both ends after changing requirements/*.txt.
constraints:
	bash scripts/freeze-constraints.sh
