"""cocotb bench of hw/rtl/mvu_int8.sv (tests shared by the front-end benches: sim/frontend_common.py; data from
tests/test_rtl_mvu_int8.py)."""

import cocotb

from sim.frontend_common import reset_test, stall_test, throughput_test

TIMEOUT_MS = 20  # simulated time; 2,000,000 cycles of 10 ns

test_stalls = cocotb.test(timeout_time=TIMEOUT_MS, timeout_unit="ms", name="test_stalls")(stall_test)
test_reset_mid_stream = cocotb.test(timeout_time=TIMEOUT_MS, timeout_unit="ms", name="test_reset_mid_stream")(
    reset_test)
test_cycles = cocotb.test(timeout_time=TIMEOUT_MS, timeout_unit="ms", name="test_cycles")(throughput_test)
