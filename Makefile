# `make` installs into .venv and runs the main job; `make test` runs the test suite.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin

.PHONY: all install preprocess demo test benchmark clean

all: demo

# The main job's recipe: CO+SS at reduced sizes with an adaptive softmax, the condition
# at every decoder step and a warmed-up, decaying learning rate, 1,000 steps alternating
# AE / CVAE epochs, scheduled sampling over the 500 AE steps (pipeline/demo.yaml says why).
# Paper settings: python -m pipeline.train --model co_ss (no config file, no override).
DEMO_MODEL := co_ss
DEMO_OVERRIDE := model.scheduled_sampling_steps=500
DEMO_SAYS := --say "hi , how are you doing ?" --say "what do you do for a living ?" $\
--say "do you like it ?"

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: setup.py | $(BIN)/activate
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

preprocess: install
	$(BIN)/python -m preprocessing.run --corpus dailydialog --output data/dailydialog

demo: preprocess
	$(BIN)/python -m pipeline.train --model $(DEMO_MODEL) --data data/dailydialog \
	    --model_dir runs/$(DEMO_MODEL) --config_file pipeline/demo.yaml \
	    --params_override $(DEMO_OVERRIDE) --progress epoch
	$(BIN)/python -m pipeline.evaluate --model_dir runs/$(DEMO_MODEL) --max_examples 200
	$(BIN)/python -m serving.export --model_dir runs/$(DEMO_MODEL) --export_base models/$(DEMO_MODEL)
	$(BIN)/python -m serving.chat --model models/$(DEMO_MODEL) $(DEMO_SAYS)
	@echo
	@echo "TensorBoard logs:  $(BIN)/tensorboard --logdir runs/$(DEMO_MODEL)/logs"
	@echo "Evaluation table:  runs/$(DEMO_MODEL)/eval/best/test.md (and test.json, *.tsv)"
	@echo "SavedModel:        models/$(DEMO_MODEL)/ (serve: see BUILD.md, TensorFlow Serving)"

test: install
	$(BIN)/python -m pytest

benchmark: install
	$(BIN)/python -m benchmarks.preprocess --repeats 2
	$(BIN)/python -m benchmarks.train_throughput --data data/dailydialog --steps 16
	$(BIN)/python -m benchmarks.serving_latency

clean:
	rm -rf $(VENV) data runs models *.egg-info
