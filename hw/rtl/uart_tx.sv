`resetall
`timescale 1ns / 1ps
`default_nettype none

// uart_tx: 8N1 serial transmitter with a stream input: a byte is taken when s_tvalid and s_tready are high and
// sent as start bit, eight data bits (least significant first) and one stop bit, CLKS_PER_BIT clocks each.
module uart_tx #(
    parameter int CLKS_PER_BIT = 33            // clock cycles per bit: f_clk / baud rate, >= 2
) (
    input  wire        clk,
    input  wire        rst_n,                  // synchronous, active low
    input  wire  [7:0] s_tdata,
    input  wire        s_tvalid,
    output logic       s_tready,
    output logic       tx                      // the serial line, idle high (registered)
);
    localparam int CW = $clog2(CLKS_PER_BIT + 1);
    initial if (CLKS_PER_BIT < 2) $fatal(1, "uart_tx: CLKS_PER_BIT (%0d) must be >= 2", CLKS_PER_BIT);

    logic [9:0]    frame;                      // stop bit, data, start bit; shifted out from bit 0
    logic [3:0]    bits_left;
    logic [CW-1:0] count;

    // ready once the stop bit has lasted its CLKS_PER_BIT clocks
    assign s_tready = (bits_left == 0) && (count == 0);

    always_ff @(posedge clk) begin
        if (!rst_n) begin
            tx <= 1'b1; bits_left <= '0; count <= '0;
        end else if (count != 0) begin
            count <= count - 1'b1;
        end else if (bits_left != 0) begin
            tx <= frame[0];
            frame <= {1'b1, frame[9:1]};
            count <= CW'(CLKS_PER_BIT - 1);
            bits_left <= bits_left - 1'b1;
        end else if (s_tvalid) begin
            frame <= {1'b1, s_tdata, 1'b0};
            bits_left <= 4'd10;
        end
    end
endmodule

`resetall
