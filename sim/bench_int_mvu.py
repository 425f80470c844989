"""cocotb bench of hw/rtl/int_mvu.sv: the generic frame-in, beat-out checks of sim/head_axis.py (random stalls on
both sides, back-to-back cycle counts, a reset mid-stream); pytest (tests/test_rtl_int_mvu.py) packs the inputs and
the expected output beats from bcrnn.reference and checks the reported cycles against the documented formula."""

import cocotb

from sim import head_axis


@cocotb.test(timeout_time=100, timeout_unit="ms")
async def stream_with_stalls(dut):
    await head_axis.check_stream(dut)


@cocotb.test(timeout_time=100, timeout_unit="ms")
async def cycles_back_to_back(dut):
    await head_axis.measure_cycles(dut)


@cocotb.test(timeout_time=100, timeout_unit="ms")
async def reset_mid_stream(dut):
    await head_axis.reset_mid_stream(dut)
