# Two commands matter (README): `make run` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
EMODB ?= ../shared/data/emodb

.PHONY: setup run test test-fast emodb-reproduce emodb-baseline emodb-crnn emodb-bcrnn-pair emodb-mixed-pair emodb-repetitions finn-report finn-pair synth rtl-sim pnr board gate-level clean

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
	$(BIN)/python -m pytest -q -n 2 --dist loadfile --no-loadscope-reorder --durations=40

test-fast: $(STAMP)
	@tools/system-packages.sh test
	$(BIN)/python -m pytest -q -m "not slow"

# The reported models are named recipes (bcrnn/recipes/, README Results): `bcrnn reproduce` trains what one needs in
# dependency order (the CRNN, the teacher of the BCRNN members, first), resumes what was cut short when called again,
# and prints its results table. Runs under RUNS: RUNS/<recipe>-s<seed>/ (runs/emodb-crnn-s0, runs/emodb-bcrnn-s6, ...)
# and RUNS/<ensemble>-s<A>-s<B>.json. EMODB=path/to/emodb
RUNS ?= runs
BCRNN = $(BIN)/bcrnn
REPRODUCE = $(BCRNN) reproduce --data-dir $(EMODB) --runs $(RUNS) --jobs 2

# the README's Emo-DB table: the CRNN and the BCRNN with and without enrolment, 3 seeds each (8-9 h on 2 cores)
emodb-reproduce: $(STAMP)
	$(REPRODUCE) emodb

# one row: the CRNN (SEED=N repeats it with seed N, into RUNS/emodb-crnn-sN) or the reported BCRNN pair (two
# members of the emodb-bcrnn recipe side by side, one core each, then their ensemble scored with the integer
# reference; PAIR_SEEDS="8 9" repeats it with other seeds), each after its teacher where that is missing
SEED ?=
PAIR_SEEDS ?= 6 7
SEED_A = $(word 1,$(PAIR_SEEDS))
SEED_B = $(word 2,$(PAIR_SEEDS))
emodb-crnn: $(STAMP)
	$(REPRODUCE) emodb-crnn $(if $(SEED),--seeds $(SEED))

emodb-bcrnn-pair: $(STAMP)
	@test $(words $(PAIR_SEEDS)) -eq 2 && test "$(SEED_A)" != "$(SEED_B)" || { echo "PAIR_SEEDS takes two different seeds, e.g. PAIR_SEEDS=\"6 7\"" >&2; exit 2; }
	$(REPRODUCE) emodb-bcrnn-pair --seeds $(PAIR_SEEDS)

# the Emo-DB 10-fold baselines, the plain recipe (about 1-2 h each here)
emodb-baseline: $(STAMP)
	$(BCRNN) train --recipe emodb-plain --model crnn --data-dir $(EMODB) --out $(RUNS)/emodb-crnn-small
	$(BCRNN) train --recipe emodb-plain --data-dir $(EMODB) --out $(RUNS)/emodb-bcrnn-small

# The earlier mixed pair (docs/experiments.md, 2026-11-29; an experiment file each, not a recipe): one all-binary
# member (training/configs/emodb_bcrnn_fast.yaml) and one speaker-batch-norm member (emodb_bcrnn_fast_sbn.yaml) of
# seed SEED (default their 3), side by side, taught by the emodb-crnn recipe's run (trained first where missing).
# TRAIN_FLAGS=--resume continues killed members.
TRAIN_FLAGS ?=
SUFFIX = $(if $(SEED),-s$(SEED))
MIXED_TRAIN = $(BCRNN) train --data-dir $(EMODB) --teacher $(RUNS)/emodb-crnn-s0 --threads 1 --no-progress $(if $(SEED),--seed $(SEED)) $(TRAIN_FLAGS)
# two members trained side by side, one core each; fails if either fails
SIDE_BY_SIDE = $(1) & first=$$!; $(2); second=$$?; wait $$first && test $$second -eq 0
emodb-mixed-pair: $(STAMP)
	$(REPRODUCE) emodb-crnn
	$(call SIDE_BY_SIDE,$(MIXED_TRAIN) --config training/configs/emodb_bcrnn_fast.yaml --out $(RUNS)/bcrnn-fast$(SUFFIX),$(MIXED_TRAIN) --config training/configs/emodb_bcrnn_fast_sbn.yaml --out $(RUNS)/bcrnn-fast-sbn$(SUFFIX))
	$(BCRNN) ensemble $(RUNS)/bcrnn-fast$(SUFFIX) $(RUNS)/bcrnn-fast-sbn$(SUFFIX) --out $(RUNS)/bcrnn-fast$(SUFFIX)-pair.json

# the pairs' mean over repetitions against the CRNN's (every seed of emodb-crnn), every fold drawn
CRNN_RUNS = $(patsubst %/config.json,%,$(wildcard $(RUNS)/emodb-crnn-s*/config.json))
PAIRS = $(wildcard $(RUNS)/emodb-bcrnn-pair-s*.json)
MIXED_PAIRS = $(filter-out $(RUNS)/bcrnn-fast-sbn%,$(wildcard $(RUNS)/bcrnn-fast-pair.json $(RUNS)/bcrnn-fast-s*-pair.json))
# one recipe's repetitions (the pair JSONs $(1), named $(2)) against the CRNN's runs, into RUNS/$(3).json and .png
REPETITIONS = $(BCRNN) repetitions $(1) --label "$(2)" --reference $(CRNN_RUNS) --reference-label CRNN --plot $(RUNS)/$(3).png --out $(RUNS)/$(3).json
emodb-repetitions: $(STAMP)
	@test -n "$(PAIRS)" || { echo "no $(RUNS)/emodb-bcrnn-pair-s*.json yet: make emodb-bcrnn-pair first" >&2; exit 2; }
	@test -n "$(CRNN_RUNS)" || { echo "no $(RUNS)/emodb-crnn-s*/ yet: make emodb-crnn first" >&2; exit 2; }
	$(call REPETITIONS,$(PAIRS),BCRNN pair,repetitions)
	$(if $(MIXED_PAIRS),$(call REPETITIONS,$(MIXED_PAIRS),mixed pair,repetitions-mixed))

# FINN build of a trained BCRNN run for both targets (Zynq-7020 small, ZU3EG fast): estimates, HLS/RTL code, the
# HW graph verified against the integer reference on the run's test speaker; report in build/finn/<run>/.
RUN ?= runs/emodb-bcrnn-small
finn-report: $(STAMP)
	$(BIN)/python finn_build/build.py $(RUN)

# the reported pair (make emodb-bcrnn-pair, same PAIR_SEEDS) as two dataflows on one ZU3EG, each verified against
# the reference, the HLS LSTM in C simulation too
finn-pair: $(STAMP)
	$(BIN)/python finn_build/build.py $(RUNS)/emodb-bcrnn-s$(SEED_A) $(RUNS)/emodb-bcrnn-s$(SEED_B) --folding zu3eg-fast --hls-csim

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

# the placed netlist of bcrnn_top (folding ECP5_FOLDING) simulated gate by gate on 4 real segments of the run's test
# speaker; PLACED=build/pnr/bcrnn_top simulates the design make pnr placed instead of placing it again
gate-level: $(STAMP)
	$(BIN)/python sim/gate_level.py $(RUN) --segments 4 --freq $(FREQ) --folding $(ECP5_FOLDING) $(if $(PLACED),--placed $(PLACED))

clean:
	rm -rf build runs/cache
