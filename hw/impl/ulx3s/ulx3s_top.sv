`resetall
`timescale 1ns / 1ps
`default_nettype none

// ulx3s_top: the BCRNN on a ULX3S board (LFE5U-85F): the 25 MHz oscillator through the ECP5 PLL (module `pll`,
// written by ecppll for the target clock), a power-on reset released once the PLL locks, and bcrnn_uart on the
// FT231X USB-UART (ftdi_txd is the FTDI's transmit line, the FPGA's receive line). LEDs: 0-2 the last segment's
// label, 6 a receive overrun, 7 a heartbeat (the clock runs).
module ulx3s_top #(
    parameter int C            = 3,            // as bcrnn_uart
    parameter int P            = 12000,
    parameter int OUT_BITS     = 115,
    parameter int LABEL_BITS   = 3,
    parameter int CLKS_PER_BIT = 33,           // the PLL's clock / baud rate
    parameter int IDLE_CYCLES  = 1 << 24
) (
    input  wire        clk_25mhz,
    input  wire        ftdi_txd,
    output wire        ftdi_rxd,
    output wire  [7:0] led
);
    logic clk, locked;
    pll u_pll (.clkin(clk_25mhz), .clkout0(clk), .locked(locked));

    // reset held for 16 cycles after the PLL locks
    logic [4:0] por = '0;
    logic       rst_n;
    always_ff @(posedge clk) begin
        if (!locked) por <= '0;
        else if (!por[4]) por <= por + 1'b1;
    end
    assign rst_n = por[4];

    logic [LABEL_BITS-1:0] label;
    logic                  overrun;
    bcrnn_uart #(.C(C), .P(P), .OUT_BITS(OUT_BITS), .LABEL_BITS(LABEL_BITS), .CLKS_PER_BIT(CLKS_PER_BIT),
                 .IDLE_CYCLES(IDLE_CYCLES)) u_core (
        .clk(clk), .rst_n(rst_n), .rx(ftdi_txd), .tx(ftdi_rxd), .label(label), .overrun(overrun));

    logic [26:0] beat = '0;
    always_ff @(posedge clk) beat <= beat + 1'b1;

    logic [2:0] label3;
    assign label3 = 3'(label);
    assign led = {beat[26], overrun, 3'b000, label3};
endmodule

`resetall
