# The sources of the generated bcrnn_top (besides bcrnn_top.sv itself), in compile order; paths relative to this
# file. Read by bcrnn.rtl.top (simulation) and by the Yosys and nextpnr flows (hw/synth, hw/impl).
axis_skid.sv
conv_window.sv
mvu_control.sv
mvu_int8.sv
maxpool_bits.sv
xnor_mvu.sv
frontend_chain.sv
binary_lstm.sv
time_sum.sv
int_mvu.sv
output_argmax.sv
