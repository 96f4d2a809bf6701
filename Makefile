# make demo: set up .venv (if missing) and segment the bundled example, printing the segments.
# make test: set up .venv the same way (plus TensorFlow/Keras and pytest, requirements-dev.txt)
#            and run the test suite.
# No root needed: without a system ffmpeg the engine uses imageio-ffmpeg's bundled binary.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.requirements-installed
TEST_STAMP := $(VENV)/.test-requirements-installed
EXAMPLE ?= examples/speech_music.ogg
DEMO_DIR := build/demo
DEMO_ARGS ?= --labels fine

.PHONY: demo test setup clean-venv

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(STAMP): requirements.txt constraints.txt | $(PY)
	$(PY) -m pip install -q -r requirements.txt
	touch $@

$(TEST_STAMP): requirements-dev.txt $(STAMP)
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

setup: $(STAMP)

demo: $(STAMP)
	@test -f "$(EXAMPLE)" || { echo "example $(EXAMPLE) is missing (set EXAMPLE=path/to/media)"; exit 1; }
	@mkdir -p $(DEMO_DIR)
	@case "$(EXAMPLE)" in *.ogg) mime=audio/ogg;; *.mp3) mime=audio/mpeg;; *.wav) mime=audio/wav;; \
	  *.mp4) mime=video/mp4;; *) mime=audio/$${EXAMPLE##*.};; esac; \
	  $(VENV)/bin/clams source "$$mime:$(abspath $(EXAMPLE))" > $(DEMO_DIR)/source.mmif
	$(PY) cli.py $(DEMO_ARGS) $(DEMO_DIR)/source.mmif $(DEMO_DIR)/output.mmif
	@$(PY) -c "import cli; print(cli.segments_table(open('$(DEMO_DIR)/output.mmif').read()))"
	@echo "full output: $(DEMO_DIR)/output.mmif"

test: $(TEST_STAMP)
	$(PY) -m pytest -q tests

clean-venv:
	rm -rf $(VENV)
