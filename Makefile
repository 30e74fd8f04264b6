# Two entry points: `make run` (demo on the shipped default model) and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install lint clean default-model bench-speed bench-parity

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# The CPU wheel; any other torch spec pulls a multi-GB CUDA build.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m serkit.demo

test: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest tests

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

# Throughput (torch / ONNX fp32 / ONNX int8 / HF pipeline) and ONNX parity on WikiSER test.
bench-speed: $(STAMP)
	@test -n "$(MODEL)" || { echo "usage: make bench-speed MODEL=runs/<model dir>"; exit 2; }
	HF_HUB_OFFLINE=1 $(BIN)/python bench/speed.py --model "$(MODEL)"

bench-parity: $(STAMP)
	@test -n "$(MODEL)" || { echo "usage: make bench-parity MODEL=runs/<model dir>"; exit 2; }
	HF_HUB_OFFLINE=1 $(BIN)/python bench/parity.py --model "$(MODEL)"
