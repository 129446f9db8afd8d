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
	@case "$${AVATAR_PROFILE:-cpu}" in tiny-gpu) for env in vllm f5 cosyvoice; do $(AVATAR) engines install $$env || exit 1; done;; esac
	@case "$${AVATAR_ASR_ENGINE:-}" in qwen_asr) $(AVATAR) engines install qwen-asr || exit 1;; esac
	@case "$${AVATAR_PROFILE:-cpu}" in tiny|tiny-gpu) $(AVATAR) models tiny;; esac
	@$(AVATAR) up

down:
	@if [ -x $(AVATAR) ]; then $(AVATAR) down; else echo "nothing to stop"; fi

status:
	@$(AVATAR) status

test: install
	@scripts/services.sh --postgres
	@scripts/install-test-tools.sh
	@# the engine environments the tests run F5-TTS, CosyVoice, VoxCPM, vLLM and Qwen3-ASR in, and the
	@# Pipecat one bench.peer's smoke test runs its peer in (built once, cached)
	@for env in vllm f5 cosyvoice voxcpm qwen-asr pipecat; do $(AVATAR) engines install $$env || exit 1; done
	@$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

bench: install
	@scripts/services.sh
	@$(VENV)/bin/python -m bench.overhead
	@$(VENV)/bin/python -m bench.peer  # builds the Pipecat environment first when absent
	@$(VENV)/bin/python -m bench.speech
	@$(VENV)/bin/python -m bench.typed  # typed turns at 1 and 5 sessions, tiny profile, lite tiers
	@$(VENV)/bin/python -m bench.prosody
	@$(VENV)/bin/python -m bench.cloning
	@$(VENV)/bin/python -m bench.faults
	@# bench.engines' F5, CosyVoice and vLLM parts run in their engine environments (built once, cached)
	@for env in vllm f5 cosyvoice; do $(AVATAR) engines install $$env || exit 1; done
	@$(VENV)/bin/python -m bench.engines  # all five parts (LLM transformers and vLLM, ASR, F5, CosyVoice); builds the real-size random models first
	@$(VENV)/bin/python -m bench.contention  # the engines as processes sharing the cores (the cpu layout's sharing rule)
	@$(VENV)/bin/python -m bench.voice  # voice to voice on those models, 1/3/5 sessions closed loop
