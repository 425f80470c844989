`resetall
`timescale 1ns / 1ps
`default_nettype none

// board_bench (simulation only): ulx3s_top with a host's UART transmitter on its receive pin. A pulse on host_start
// sends bytes [host_first, host_first + host_count) of the byte file HOST_BYTES ($readmemh, one byte a line) as 8N1
// frames of CLKS_PER_BIT cycles a bit; host_busy is high until the last stop bit ends. The host's bits change on
// the falling edge: its clock is not the board's. Sending from Verilog keeps the bench at the simulator's speed:
// one Python await per send instead of one per bit.
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
    output logic       host_busy,
    output wire        ftdi_rxd,
    output wire  [7:0] led
);
    logic [7:0] host_mem [HOST_LEN];
    initial $readmemh(HOST_BYTES, host_mem);

    logic ftdi_txd;
    ulx3s_top #(.C(C), .P(P), .OUT_BITS(OUT_BITS), .LABEL_BITS(LABEL_BITS), .CLKS_PER_BIT(CLKS_PER_BIT),
                .IDLE_CYCLES(IDLE_CYCLES)) u_board (
        .clk_25mhz(clk_25mhz), .ftdi_txd(ftdi_txd), .ftdi_rxd(ftdi_rxd), .led(led));

    logic [31:0] index, last, tick;
    logic [3:0]  bit_n;  // 0 the start bit, 1-8 the data bits (least significant first), 9 the stop bit
    initial begin
        host_busy = 1'b0;
        ftdi_txd  = 1'b1;
    end
    always @(negedge clk_25mhz) begin
        if (!host_busy) begin
            ftdi_txd <= 1'b1;
            if (host_start && host_count != 0) begin
                host_busy <= 1'b1;
                index     <= host_first;
                last      <= host_first + host_count - 1;
                bit_n     <= '0;
                tick      <= '0;
            end
        end else begin
            ftdi_txd <= bit_n == 0 ? 1'b0 : bit_n == 9 ? 1'b1 : host_mem[index][bit_n - 1];
            if (tick != CLKS_PER_BIT - 1) begin
                tick <= tick + 1;
            end else begin
                tick <= '0;
                if (bit_n != 9) begin
                    bit_n <= bit_n + 1'b1;
                end else begin
                    bit_n <= '0;
                    if (index == last) host_busy <= 1'b0;
                    else index <= index + 1;
                end
            end
        end
    end
endmodule

`resetall
