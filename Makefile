# Quick start: `make demo` runs the main job on a bundled fixture; `make test` runs the test suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DEMO := build/demo

.PHONY: setup dot chromium java netns demo test test-local lint docs docs-serve docs-cli bench clean

setup: $(STAMP) dot chromium java netns

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[all,dev,explorer,bench]"
	touch $(STAMP)

# Graphviz's `dot` lays out the rendered diagrams; install it with apt-get when it is missing.
dot:
	@command -v dot >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq graphviz >/dev/null; \
		elif command -v sudo >/dev/null 2>&1; then sudo apt-get update -qq && sudo apt-get install -y -qq graphviz >/dev/null; \
		else echo "note: Graphviz's dot is missing and cannot be installed without root; diagrams stay .dot files"; fi; }

# Debian's Chromium drives the browser tests (playwright's own browser download is not reachable everywhere).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium >/dev/null; \
		elif command -v sudo >/dev/null 2>&1; then sudo apt-get update -qq && sudo apt-get install -y -qq --no-install-recommends chromium >/dev/null; \
		else echo "note: chromium is missing and cannot be installed without root; browser tests will skip"; fi; }

# TorchServe's frontend runs on Java 17: install the headless JRE with apt-get when java is missing.
java:
	@command -v java >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq openjdk-17-jre-headless >/dev/null; \
		elif command -v sudo >/dev/null 2>&1; then sudo apt-get update -qq && sudo apt-get install -y -qq openjdk-17-jre-headless >/dev/null; \
		else echo "note: java is missing and cannot be installed without root; the TorchServe tests skip"; fi; }

# The batch tests run Ray inside `unshare -n` with only loopback (Ray listens on every interface otherwise):
# util-linux's unshare and iproute2's ip. Without root they run on the host's network and say nothing.
netns:
	@command -v unshare >/dev/null 2>&1 && command -v ip >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq util-linux iproute2 >/dev/null; \
		elif command -v sudo >/dev/null 2>&1; then sudo apt-get update -qq && sudo apt-get install -y -qq util-linux iproute2 >/dev/null; \
		else echo "note: unshare or ip is missing; the batch tests' Ray clusters use the host network"; fi; }

demo: setup
	@mkdir -p $(DEMO)
	$(BIN)/graphtool convert fixtures/torch/cnn.pt2 --to onnx -o $(DEMO)/cnn.onnx --force
	$(BIN)/graphtool convert fixtures/torch/cnn.pt2 --to savedmodel -o $(DEMO)/cnn_savedmodel --force
	$(BIN)/graphtool inspect $(DEMO)/cnn.onnx
	$(BIN)/graphtool render $(DEMO)/cnn.onnx -o graphviz_out/cnn.svg --force
	@echo
	@echo "ONNX model:  $(DEMO)/cnn.onnx"
	@echo "SavedModel:  $(DEMO)/cnn_savedmodel"
	@echo "diagram:     graphviz_out/cnn.svg"

test: setup
	$(BIN)/python -m pytest -q

# The same without the tests that start real servers, browsers or Ray clusters (CI runs those).
test-local: setup
	$(BIN)/python -m pytest -q -m 'not external'

lint: setup
	$(BIN)/ruff check .

# The documentation site (mkdocs.yml, docs/) into site/; --strict fails on a broken link or a missing page.
docs: setup
	$(BIN)/python -m mkdocs build --strict

docs-serve: setup
	$(BIN)/python -m mkdocs serve --dev-addr 127.0.0.1:8000

# docs/cli.md is generated from the app's --help (tests/test_docs.py checks it is current).
docs-cli: setup
	$(BIN)/python -m converter.cli.reference -o docs/cli.md

bench: setup
	$(BIN)/python benchmarks/bench_startup.py
	$(BIN)/python benchmarks/bench_batch.py

clean:
	rm -rf build site graphviz_out/*.svg graphviz_out/*.dot graphviz_out/*.png
