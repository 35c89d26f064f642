# `make` installs into .venv and runs the main job; `make test` runs the test suite.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin

.PHONY: all install preprocess demo test benchmark clean

all: demo

export TF_CPP_MIN_LOG_LEVEL ?= 2  # keep TensorFlow's start-up chatter out of the output

# The main job's demo budget: CO+SS on DailyDialog at reduced sizes, 4 epochs alternating
# AE / CVAE, Adam at 1e-3 (the paper's 2e-4 needs far more steps). Paper settings: drop
# DEMO_OVERRIDE.
DEMO_OVERRIDE := model.embedding_dim=128,model.utterance_units=256,model.context_units=512,$\
model.decoder_units=256,model.latent_dim=128,model.mlp_units=256,$\
model.scheduled_sampling_steps=500,data.batch_size=64,train.epochs=4,$\
train.steps_per_epoch=250,train.validation_steps=10,train.learning_rate=0.001
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
	$(BIN)/python -m pipeline.train --model co_ss --data data/dailydialog \
	    --model_dir runs/co_ss --params_override $(DEMO_OVERRIDE) --verbose 2
	$(BIN)/python -m pipeline.evaluate --model_dir runs/co_ss --max_examples 200
	$(BIN)/python -m serving.export --model_dir runs/co_ss --export_base models/co_ss
	$(BIN)/python -m serving.chat --model models/co_ss $(DEMO_SAYS)
	@echo
	@echo "TensorBoard logs:  $(BIN)/tensorboard --logdir runs/co_ss/logs"
	@echo "Evaluation table:  runs/co_ss/eval/best/test.md (and test.json, *.tsv)"
	@echo "SavedModel:        models/co_ss/ (serve: see BUILD.md, TensorFlow Serving)"

test: install
	$(BIN)/python -m pytest

benchmark: install
	$(BIN)/python -m benchmarks.preprocess --repeats 2
	$(BIN)/python -m benchmarks.train_throughput --data data/dailydialog --steps 16
	$(BIN)/python -m benchmarks.serving_latency

clean:
	rm -rf $(VENV) data runs models *.egg-info
