`resetall
`timescale 1ns / 1ps
`default_nettype none

// board_bench (simulation only): ulx3s_top with a host's UART transmitter on its receive pin. A pulse on host_start
// sends bytes [host_first, host_first + host_count) of the byte file HOST_BYTES ($readmemh, one byte a line) through
// the project's uart_tx (8N1, CLKS_PER_BIT cycles a bit); host_busy is high until the last stop bit ends. The host's
// transmitter runs on the inverted clock, so its bits change on the falling edge: its clock is not the board's.
// Sending from Verilog keeps the bench at the simulator's speed: one Python await per send instead of one per bit.
module board_bench #(
    parameter int    C            = 3,      // as ulx3s_top
    parameter int    P            = 12000,
    parameter int    OUT_BITS     = 115,
    parameter int    LABEL_BITS   = 3,
    parameter int    CLKS_PER_BIT = 33,
    parameter int    IDLE_CYCLES  = 1 << 24,
    parameter string HOST_BYTES   = "",
    parameter int    HOST_LEN     = 1       // bytes in HOST_BYTES
) (
    input  wire        clk_25mhz,
    input  wire        host_start,
    input  wire [31:0] host_first,
    input  wire [31:0] host_count,
    output wire        host_busy,
    output wire        ftdi_rxd,
    output wire  [7:0] led
);
    logic [7:0] host_mem [HOST_LEN];
    initial $readmemh(HOST_BYTES, host_mem);

    logic ftdi_txd;
    ulx3s_top #(.C(C), .P(P), .OUT_BITS(OUT_BITS), .LABEL_BITS(LABEL_BITS), .CLKS_PER_BIT(CLKS_PER_BIT),
                .IDLE_CYCLES(IDLE_CYCLES)) u_board (
        .clk_25mhz(clk_25mhz), .ftdi_txd(ftdi_txd), .ftdi_rxd(ftdi_rxd), .led(led));

    wire         host_clk = ~clk_25mhz;
    logic [1:0]  host_reset = '0;           // the host transmitter's reset, released after two clocks
    logic        sending = 1'b0, ready;     // sending: bytes left to hand to uart_tx
    logic [31:0] index, last;
    assign host_busy = sending || !ready;
    always_ff @(posedge host_clk) begin
        host_reset <= {host_reset[0], 1'b1};
        if (!host_busy && host_start && host_count != 0) begin
            sending <= 1'b1;
            index   <= host_first;
            last    <= host_first + host_count - 1;
        end else if (sending && ready) begin  // uart_tx takes host_mem[index] in this cycle
            if (index == last) sending <= 1'b0;
            else index <= index + 1;
        end
    end
    uart_tx #(.CLKS_PER_BIT(CLKS_PER_BIT)) u_host_tx (
        .clk(host_clk), .rst_n(host_reset[1]), .s_tdata(host_mem[index]), .s_tvalid(sending), .s_tready(ready),
        .tx(ftdi_txd));
endmodule

`resetall
