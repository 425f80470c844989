"""The open RTL flow (hw/rtl/): parameter files for the SystemVerilog blocks from a packed model, the
generated `bcrnn_top`, and helpers shared by the cocotb benches (sim/)."""
