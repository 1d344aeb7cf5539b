# Two commands matter: `make test` and `make demo`. Both install what they need first.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
VENV_BIN := .venv/bin
IN_NETNS := scripts/in-netns
# loadgroup: tests marked xdist_group (the golden image's) share one worker and its build.
PYTEST := $(IN_NETNS) $(VENV_BIN)/pytest -n 2 --dist loadgroup --durations=5
ANSIBLE_ENV := ANSIBLE_COLLECTIONS_PATH=$(CURDIR)/.cache/collections
# Recursive, so it is expanded when a recipe runs, after setup has made .venv.
export PATH = $(if $(realpath .venv/bin),$(realpath .venv/bin):)$(shell printenv PATH)

.PHONY: setup test demo lint sanity unit static sandbox-tests molecule integration e2e build collection-link constraints

setup:
	bash scripts/setup.sh

# Sanity runs beside molecule: one mostly computes, the other mostly waits on stand-ins.
# The golden image's cache starts empty, so a full run builds it once (tests/fixtures/golden.py).
test: setup lint build unit static sandbox-tests
	source scripts/env.sh && rm -rf "$$CATTLE_CACHE/golden"
	$(MAKE) --no-print-directory -j2 --output-sync=target molecule sanity
	$(MAKE) --no-print-directory integration e2e
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
	bash scripts/sanity.sh

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

build:
	bash scripts/build-check.sh

# Refreeze every transitive pin after changing requirements/*.txt.
constraints:
	python3 -m venv .cache/freeze && .cache/freeze/bin/pip install -q -r requirements/test.txt
	( echo "# Every package of the test environment, frozen. Regenerate with: make constraints"; \
	  .cache/freeze/bin/pip freeze ) > requirements/constraints.txt
	rm -rf .cache/freeze
