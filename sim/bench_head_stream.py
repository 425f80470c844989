"""cocotb bench of the head blocks (hw/rtl/time_sum.sv, int_mvu.sv, output_argmax.sv): the generic frame-in,
beat-out checks of sim/head_axis.py (random stalls on both sides, back-to-back cycle counts, a reset mid-stream);
pytest (tests/test_rtl_{time_sum,int_mvu,output_argmax}.py) packs the inputs and the expected output beats from
bcrnn.reference and checks the reported cycles against each block's documented formula."""

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
