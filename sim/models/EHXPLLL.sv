`resetall
`timescale 1ns / 1ps
`default_nettype none

// Simulation stand-in for the ECP5 PLL primitive (simulation only; synthesis maps the real EHXPLLL): CLKOP follows
// CLKI (the board top is simulated at the oscillator's clock, which changes no cycle count), and LOCK rises after
// 8 input clocks. Only the ports ecppll's pll.v connects are modelled; its parameters are accepted and ignored.
module EHXPLLL #(
    parameter PLLRST_ENA = "DISABLED", parameter INTFB_WAKE = "DISABLED", parameter STDBY_ENABLE = "DISABLED",
    parameter DPHASE_SOURCE = "DISABLED", parameter OUTDIVIDER_MUXA = "DIVA", parameter OUTDIVIDER_MUXB = "DIVB",
    parameter OUTDIVIDER_MUXC = "DIVC", parameter OUTDIVIDER_MUXD = "DIVD", parameter int CLKI_DIV = 1,
    parameter CLKOP_ENABLE = "ENABLED", parameter int CLKOP_DIV = 8, parameter int CLKOP_CPHASE = 0,
    parameter int CLKOP_FPHASE = 0, parameter FEEDBK_PATH = "CLKOP", parameter int CLKFB_DIV = 1
) (
    input  wire  RST, STDBY, CLKI, CLKFB, PHASESEL0, PHASESEL1, PHASEDIR, PHASESTEP, PHASELOADREG, PLLWAKESYNC,
    input  wire  ENCLKOP,
    output wire  CLKOP,
    output wire  CLKINTFB,
    output logic LOCK
);
    logic [3:0] count = '0;
    assign CLKOP = CLKI;
    assign CLKINTFB = 1'b0;
    always @(posedge CLKI) if (!count[3]) count <= count + 1'b1;
    assign LOCK = count[3];
endmodule

`resetall
