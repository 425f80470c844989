# Two commands matter (README): `make run` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
EMODB ?= ../shared/data/emodb

.PHONY: setup run test test-fast emodb-baseline emodb-crnn emodb-bcrnn-pair emodb-repetitions finn-report finn-pair synth rtl-sim clean

setup: $(STAMP)

# torch first, pinned to the CPU build (a later resolver would otherwise fetch CUDA wheels), then the lock file.
$(STAMP): pyproject.toml requirements.lock requirements-nodeps.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip==25.3
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -r requirements-nodeps.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/python training/train.py

test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist loadfile --durations=15

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

# The Emo-DB 10-fold baselines of issue 2 (about 1-2 h each here); EMODB=path/to/emodb
emodb-baseline: $(STAMP)
	$(BIN)/python training/train.py --config training/configs/emodb_small.yaml --data-dir $(EMODB) --model crnn --out runs/emodb-crnn-small
	$(BIN)/python training/train.py --config training/configs/emodb_small.yaml --data-dir $(EMODB) --model bcrnn --out runs/emodb-bcrnn-small

# Issue 6 (docs/ablation.md): the CRNN (also the BCRNN's distillation teacher; ~29 min here), then the reported
# BCRNN: one member of emodb_bcrnn_fast.yaml and one of emodb_bcrnn_fast_sbn.yaml trained side by side (one core
# each), then their ensemble scored with the integer reference. TRAIN_FLAGS=--resume continues killed runs.
# SEED=N repeats a recipe with other seeds, into runs/...-sN (the CRNN: runs/s-crnn-spk-avg-sN, not a teacher);
# emodb-repetitions then prints the BCRNN pairs' mean over seeds against the CRNN's, and draws every fold.
TRAIN_FLAGS ?=
SEED ?=
SUFFIX = $(if $(SEED),-s$(SEED))
SEED_FLAG = $(if $(SEED),--seed $(SEED))
emodb-crnn: $(STAMP)
	$(BIN)/python training/train.py --config training/configs/emodb_best.yaml --model crnn --data-dir $(EMODB) --out runs/s-crnn-spk-avg$(SUFFIX) $(SEED_FLAG) --jobs 2 $(TRAIN_FLAGS)

# the members' teacher (their configs name it): trained first where it is missing, resumed where it was cut short
TEACHER_DONE := runs/s-crnn-spk-avg/metrics.json
$(TEACHER_DONE): | $(STAMP)
	$(MAKE) emodb-crnn SEED= TRAIN_FLAGS=--resume

emodb-bcrnn-pair: $(STAMP) $(TEACHER_DONE)
	$(BIN)/python training/train.py --config training/configs/emodb_bcrnn_fast.yaml --data-dir $(EMODB) --out runs/bcrnn-fast$(SUFFIX) $(SEED_FLAG) --threads 1 --no-progress $(TRAIN_FLAGS) & member=$$!; \
	$(BIN)/python training/train.py --config training/configs/emodb_bcrnn_fast_sbn.yaml --data-dir $(EMODB) --out runs/bcrnn-fast-sbn$(SUFFIX) $(SEED_FLAG) --threads 1 --no-progress $(TRAIN_FLAGS); sbn=$$?; \
	wait $$member && test $$sbn -eq 0
	$(BIN)/python training/ensemble.py runs/bcrnn-fast$(SUFFIX) runs/bcrnn-fast-sbn$(SUFFIX) --out runs/bcrnn-fast$(SUFFIX)-pair.json

emodb-repetitions: $(STAMP)
	$(BIN)/python training/repetitions.py $(wildcard runs/bcrnn-fast-pair.json runs/bcrnn-fast-s*-pair.json) --label "BCRNN pair" \
	    --reference runs/s-crnn-spk-avg $(patsubst %/config.json,%,$(wildcard runs/s-crnn-spk-avg-s*/config.json)) --reference-label CRNN \
	    --plot runs/repetitions.png --out runs/repetitions.json

# FINN build of a trained BCRNN run for both targets (Zynq-7020 small, ZU3EG fast): estimates, HLS/RTL code, the
# HW graph verified against the integer reference on the run's test speaker; report in build/finn/<run>/.
RUN ?= runs/emodb-bcrnn-small
finn-report: $(STAMP)
	$(BIN)/python finn_build/build.py $(RUN)

# the reported pair (make emodb-bcrnn-pair) as two dataflows on one ZU3EG, each verified against the reference
finn-pair: $(STAMP)
	$(BIN)/python finn_build/build.py runs/bcrnn-fast runs/bcrnn-fast-sbn --folding zu3eg-fast --hls-csim

# Yosys resource estimates (synth_xilinx, not Vivado) of every RTL block and of bcrnn_top for the run's model
synth: $(STAMP)
	$(BIN)/python hw/synth/synth.py --packed $(RUN)/model.packed.npz

# bcrnn_top simulated on 20 utterances of the run's test speaker, compared with the reference at every boundary
rtl-sim: $(STAMP)
	$(BIN)/python sim/top.py $(RUN) --utterances 20 --sim verilator icarus

clean:
	rm -rf build runs/cache
