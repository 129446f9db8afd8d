# AVATAR: `make up` starts everything, `make test` runs the tests. See README.md.
SHELL := /bin/bash
VENV ?= .venv
AVATAR := $(VENV)/bin/avatar

.PHONY: install up down test bench status

install:
	@scripts/install.sh

up: install
	@scripts/services.sh
	@$(AVATAR) secrets  # first start: generated before anything reads the settings
	@$(AVATAR) db upgrade
	@if [ "$${AVATAR_PROFILE:-cpu}" = "tiny" ]; then $(AVATAR) models tiny; fi
	@$(AVATAR) up

down:
	@if [ -x $(AVATAR) ]; then $(AVATAR) down; else echo "nothing to stop"; fi

status:
	@$(AVATAR) status

test: install
	@scripts/services.sh --postgres
	@scripts/install-test-tools.sh
	@$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

bench: install
	@scripts/services.sh
	@$(VENV)/bin/python -m bench.overhead
	@$(VENV)/bin/python -m bench.speech
	@$(VENV)/bin/python -m bench.prosody
	@$(VENV)/bin/python -m bench.cloning
