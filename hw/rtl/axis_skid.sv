`resetall
`timescale 1ns / 1ps
`default_nettype none

// axis_skid: a register slice on a ready/valid stream (a skid buffer, as verilog-axis' axis_register with
// REG_TYPE = 2). m_tdata, m_tvalid and s_tready all come from registers, so no combinational path crosses the
// slice in either direction: bcrnn_top puts one on every stream between its blocks, which keeps each block's
// handshake logic beside the block on the chip. One beat per cycle; a beat leaves one cycle after it entered.
module axis_skid #(
    parameter int W = 8
) (
    input  wire          clk,
    input  wire          rst_n,      // synchronous, active low
    input  wire  [W-1:0] s_tdata,
    input  wire          s_tvalid,
    output logic         s_tready,
    output logic [W-1:0] m_tdata,
    output logic         m_tvalid,
    input  wire          m_tready
);
    initial if (W < 1) $fatal(1, "axis_skid: W (%0d) must be positive", W);

    logic [W-1:0] skid_data;          // the beat taken while the output register was held
    logic         skid_valid;
    wire          out_free = !m_tvalid || m_tready;

    assign s_tready = !skid_valid;

    always_ff @(posedge clk) begin
        if (!rst_n) begin
            m_tvalid   <= 1'b0;
            skid_valid <= 1'b0;
        end else if (out_free) begin
            m_tvalid   <= skid_valid || s_tvalid;
            skid_valid <= 1'b0;
        end else if (s_tvalid) begin
            skid_valid <= 1'b1;
        end
    end

    always_ff @(posedge clk) begin
        if (out_free)         m_tdata   <= skid_valid ? skid_data : s_tdata;
        if (!skid_valid)      skid_data <= s_tdata;
    end
endmodule

`resetall
