# Two commands matter (README): `make run` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
EMODB ?= ../shared/data/emodb

.PHONY: setup run test test-fast emodb-baseline emodb-crnn emodb-bcrnn-pair emodb-mixed-pair emodb-repetitions finn-report finn-pair synth rtl-sim pnr board gate-level clean

setup: $(STAMP)

# torch first, pinned to the CPU build (a later resolver would otherwise fetch CUDA wheels), then the lock file.
$(STAMP): pyproject.toml requirements.lock requirements-nodeps.txt
	@tools/system-packages.sh run
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip==25.3
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -r requirements-nodeps.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/python training/train.py

# system packages first (apt-get as root; otherwise one line naming them), then the whole suite
test: $(STAMP)
	@tools/system-packages.sh test
	$(BIN)/python -m pytest -q -n 2 --dist loadfile --durations=15

test-fast: $(STAMP)
	@tools/system-packages.sh test
	$(BIN)/python -m pytest -q -m "not slow"

# The Emo-DB 10-fold baselines, plain recipe (about 1-2 h each here); EMODB=path/to/emodb
emodb-baseline: $(STAMP)
	$(BIN)/python training/train.py --config training/configs/emodb_small.yaml --data-dir $(EMODB) --model crnn --out runs/emodb-crnn-small
	$(BIN)/python training/train.py --config training/configs/emodb_small.yaml --data-dir $(EMODB) --model bcrnn --out runs/emodb-bcrnn-small

# The reported models (docs/experiments.md): the CRNN (also the BCRNN's distillation teacher; ~21-29 min here), then
# the reported BCRNN: two members of emodb_bcrnn_fast_sbn.yaml (speaker batch norm) with the seeds PAIR_SEEDS,
# trained side by side (one core each), then their ensemble scored with the integer reference (~70 min here).
# TRAIN_FLAGS=--resume continues killed runs. PAIR_SEEDS="8 9" repeats the recipe with other seeds; SEED=N repeats
# the CRNN (into runs/s-crnn-spk-avg-sN, not a teacher) and the earlier mixed pair (emodb-mixed-pair: one
# all-binary member, emodb_bcrnn_fast.yaml, and one speaker-batch-norm member, both of seed N).
# emodb-repetitions prints the pairs' mean over repetitions against the CRNN's, and draws every fold.
TRAIN_FLAGS ?=
SEED ?=
SUFFIX = $(if $(SEED),-s$(SEED))
SEED_FLAG = $(if $(SEED),--seed $(SEED))
PAIR_SEEDS ?= 6 7
SEED_A = $(word 1,$(PAIR_SEEDS))
SEED_B = $(word 2,$(PAIR_SEEDS))
SBN_TRAIN = $(BIN)/python training/train.py --config training/configs/emodb_bcrnn_fast_sbn.yaml --data-dir $(EMODB) --threads 1 --no-progress $(TRAIN_FLAGS)
# two pair members trained side by side, one core each; fails if either fails
SIDE_BY_SIDE = $(1) & first=$$!; $(2); second=$$?; wait $$first && test $$second -eq 0
emodb-crnn: $(STAMP)
	$(BIN)/python training/train.py --config training/configs/emodb_best.yaml --model crnn --data-dir $(EMODB) --out runs/s-crnn-spk-avg$(SUFFIX) $(SEED_FLAG) --jobs 2 $(TRAIN_FLAGS)

# the members' teacher (their configs name it): trained first where it is missing, resumed where it was cut short
TEACHER_DONE := runs/s-crnn-spk-avg/metrics.json
$(TEACHER_DONE): | $(STAMP)
	$(MAKE) emodb-crnn SEED= TRAIN_FLAGS=--resume

emodb-bcrnn-pair: $(STAMP) $(TEACHER_DONE)
	@test $(words $(PAIR_SEEDS)) -eq 2 && test "$(SEED_A)" != "$(SEED_B)" || { echo "PAIR_SEEDS takes two different seeds, e.g. PAIR_SEEDS=\"6 7\"" >&2; exit 2; }
	$(call SIDE_BY_SIDE,$(SBN_TRAIN) --seed $(SEED_A) --out runs/bcrnn-fast-sbn-s$(SEED_A),$(SBN_TRAIN) --seed $(SEED_B) --out runs/bcrnn-fast-sbn-s$(SEED_B))
	$(BIN)/python training/ensemble.py runs/bcrnn-fast-sbn-s$(SEED_A) runs/bcrnn-fast-sbn-s$(SEED_B) --out runs/bcrnn-sbn-pair-s$(SEED_A)-s$(SEED_B).json

emodb-mixed-pair: $(STAMP) $(TEACHER_DONE)
	$(call SIDE_BY_SIDE,$(BIN)/python training/train.py --config training/configs/emodb_bcrnn_fast.yaml --data-dir $(EMODB) --out runs/bcrnn-fast$(SUFFIX) $(SEED_FLAG) --threads 1 --no-progress $(TRAIN_FLAGS),$(SBN_TRAIN) --out runs/bcrnn-fast-sbn$(SUFFIX) $(SEED_FLAG))
	$(BIN)/python training/ensemble.py runs/bcrnn-fast$(SUFFIX) runs/bcrnn-fast-sbn$(SUFFIX) --out runs/bcrnn-fast$(SUFFIX)-pair.json

CRNN_RUNS = runs/s-crnn-spk-avg $(patsubst %/config.json,%,$(wildcard runs/s-crnn-spk-avg-s*/config.json))
SBN_PAIRS = $(wildcard runs/bcrnn-sbn-pair-s*.json)
MIXED_PAIRS = $(filter-out runs/bcrnn-fast-sbn%,$(wildcard runs/bcrnn-fast-pair.json runs/bcrnn-fast-s*-pair.json))
# one recipe's repetitions (the pair JSONs $(1), named $(2)) against the CRNN's runs, into runs/$(3).json and .png
REPETITIONS = $(BIN)/python training/repetitions.py $(1) --label "$(2)" --reference $(CRNN_RUNS) --reference-label CRNN --plot runs/$(3).png --out runs/$(3).json
emodb-repetitions: $(STAMP)
	@test -n "$(SBN_PAIRS)" || { echo "no runs/bcrnn-sbn-pair-s*.json yet: make emodb-bcrnn-pair first" >&2; exit 2; }
	$(call REPETITIONS,$(SBN_PAIRS),BCRNN pair,repetitions)
	$(if $(MIXED_PAIRS),$(call REPETITIONS,$(MIXED_PAIRS),mixed pair,repetitions-mixed))

# FINN build of a trained BCRNN run for both targets (Zynq-7020 small, ZU3EG fast): estimates, HLS/RTL code, the
# HW graph verified against the integer reference on the run's test speaker; report in build/finn/<run>/.
RUN ?= runs/emodb-bcrnn-small
finn-report: $(STAMP)
	$(BIN)/python finn_build/build.py $(RUN)

# the reported pair (make emodb-bcrnn-pair, same PAIR_SEEDS) as two dataflows on one ZU3EG, each verified against
# the reference, the HLS LSTM in C simulation too
finn-pair: $(STAMP)
	$(BIN)/python finn_build/build.py runs/bcrnn-fast-sbn-s$(SEED_A) runs/bcrnn-fast-sbn-s$(SEED_B) --folding zu3eg-fast --hls-csim

# Yosys resource estimates (synth_xilinx, not Vivado) of every RTL block and of bcrnn_top for the run's model
synth: $(STAMP)
	$(BIN)/python hw/synth/synth.py --packed $(RUN)/model.packed.npz

# bcrnn_top simulated on 20 utterances of the run's test speaker, compared with the reference at every boundary
rtl-sim: $(STAMP)
	$(BIN)/python sim/top.py $(RUN) --utterances 20 --sim verilator icarus

# ECP5 place-and-route (nextpnr-ecp5, timing-driven, FREQ MHz) of a wide (hw) preset run: every block out of context,
# the whole network and the ULX3S board top with its bitstream (make board: the board only); cycles per segment
# simulated first (Verilator, 2 utterances) so the report gives segments/s at the measured Fmax; build/pnr/pnr.md
FREQ ?= 100
ECP5_FOLDING ?= ecp5-wide
ECP5_CYCLES = build/rtl/$(notdir $(RUN))-$(ECP5_FOLDING)
PNR = $(BIN)/python -m bcrnn.rtl.pnr --blocks hw/impl/blocks-ecp5.yaml --packed $(RUN)/model.packed.npz --freq $(FREQ) \
	--folding $(ECP5_FOLDING) --cycles-from $(ECP5_CYCLES)/top_sim.json
$(ECP5_CYCLES)/top_sim.json: | $(STAMP)
	$(BIN)/python sim/top.py $(RUN) --utterances 2 --sim verilator --no-finn --folding $(ECP5_FOLDING) --out $(ECP5_CYCLES)
pnr: $(STAMP) $(ECP5_CYCLES)/top_sim.json
	$(PNR)
board: $(STAMP) $(ECP5_CYCLES)/top_sim.json
	$(PNR) ulx3s

# the placed netlist of bcrnn_top simulated gate by gate on 4 real segments of the run's test speaker
gate-level: $(STAMP)
	$(BIN)/python sim/gate_level.py $(RUN) --segments 4 --freq $(FREQ)

clean:
	rm -rf build runs/cache
