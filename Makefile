# Two entry points: `make run` (demo on the shipped default model) and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install lint clean default-model m1-model bench-speed bench-parity bench chromium bench-serve

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# The CPU wheel; any other torch spec pulls a multi-GB CUDA build.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev,spacy,scale]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m serkit.demo

test: $(STAMP) chromium
	$(BIN)/lint-imports
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest --durations=15 tests

# The web page test drives Debian's chromium with Playwright (never `playwright install`,
# which downloads a browser). Installed here when missing; SERKIT_CHROMIUM=path overrides.
chromium:
	@test -n "$$SERKIT_CHROMIUM" || command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian chromium for the browser test"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  elif command -v sudo >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then \
	    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "the browser test needs chromium: install it, or set SERKIT_CHROMIUM"; exit 1; fi; }

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .ruff_cache

# Ship a trained transformer as the packaged default: ONNX int8 + tokenizer + card + lexicon.
# Usage: make default-model MODEL=runs/<best W1 model>
DEFAULT_DIR := src/serkit/models/default
default-model: $(STAMP)
	@test -n "$(MODEL)" || { echo "usage: make default-model MODEL=runs/<model dir>"; exit 2; }
	$(BIN)/serkit export onnx "$(MODEL)" -o $(DEFAULT_DIR) --quantize int8
	@size=$$(cat $(DEFAULT_DIR)/* | wc -c); echo "default model: $$size bytes"; \
	  test $$size -le 31457280 || { echo "default model is over 30 MB"; exit 1; }
	HF_HUB_OFFLINE=1 $(BIN)/python -m serkit.demo

# Protocol M1 (issue 20): the shipped default's recipe. One multi-head model on WikiSER dev,
# StackOverflow NER train and S-NER train: 1.5 epochs, then continued from its last
# checkpoint to 3, 5, 7 and 9 epochs (each continuation re-plans the decay from the current
# step: a warm restart), keeping the 7-epoch run's best model and last checkpoint aside;
# then the weights of the best and the last of the 7- and the 9-epoch stages are averaged
# (`serkit average`; ~3.5 h on one core in all). Then
# `make default-model MODEL=runs/m1-soup` and `python bench/m1.py`.
M1 := HF_HUB_OFFLINE=1 $(BIN)/serkit train --config configs/m1-multihead.toml
m1-model: $(STAMP)
	$(M1)
	$(M1) --resume --epochs 3
	$(M1) --resume --epochs 5
	$(M1) --resume --epochs 7
	rm -rf runs/m1-multihead-e7 && cp -r runs/m1-multihead runs/m1-multihead-e7
	$(M1) --resume --epochs 9
	rm -rf runs/m1-soup
	$(BIN)/serkit average runs/m1-multihead runs/m1-multihead/checkpoint \
	  runs/m1-multihead-e7 runs/m1-multihead-e7/checkpoint -o runs/m1-soup

# Throughput (torch / ONNX fp32 / ONNX int8 / HF pipeline) and ONNX parity on WikiSER test.
bench-speed: $(STAMP)
	@test -n "$(MODEL)" || { echo "usage: make bench-speed MODEL=runs/<model dir>"; exit 2; }
	HF_HUB_OFFLINE=1 $(BIN)/python bench/speed.py --model "$(MODEL)"

bench-parity: $(STAMP)
	@test -n "$(MODEL)" || { echo "usage: make bench-parity MODEL=runs/<model dir>"; exit 2; }
	HF_HUB_OFFLINE=1 $(BIN)/python bench/parity.py --model "$(MODEL)"

# Issue 8: every system (weak, CRF, MiniLM vanilla/self-regularized, spaCy) on W1/X1/S1/S2,
# speed with ratios to spaCy, error analysis, figures. Resumable: cached rows are skipped.
# SPEED_MODEL: the transformer for the speed table (torch/ONNX/HF pipeline).
SPEED_MODEL ?= runs/w1-selfreg
bench: $(STAMP)
	$(BIN)/pip install -q -e '.[bench]'
	@echo "make bench: trains every missing model (transformers from configs/ too) on this CPU;"
	@echo "this can take HOURS. Progress is printed as it goes; interrupt and re-run to resume."
	HF_HUB_OFFLINE=1 nice -n 19 $(BIN)/python bench/quality.py --train
	HF_HUB_OFFLINE=1 nice -n 19 $(BIN)/python bench/speed.py --model "$(SPEED_MODEL)"
	HF_HUB_OFFLINE=1 nice -n 19 $(BIN)/python bench/errors.py
	$(BIN)/python bench/figures.py

# Issue 7: 20 concurrent clients for 60 s against `serkit serve` (shipped model), then a
# schemathesis run against its OpenAPI spec; numbers go to bench/RESULTS.md.
bench-serve: $(STAMP)
	$(BIN)/pip install -q -e '.[bench]'
	HF_HUB_OFFLINE=1 nice -n 19 $(BIN)/python bench/serve_load.py
