`resetall
`timescale 1ns / 1ps
`default_nettype none

// bcrnn_uart: the generated bcrnn_top behind a serial line, so that a host can run a board over a USB-UART.
//
// Host -> board: the int8 feature codes of each 3-s segment, pixel after pixel (time-major, then frequency),
// C bytes per pixel in channel order, P pixels per segment, segments back to back; no framing.
// Board -> host: per segment, the output beat of bcrnn_top (label in the low LABEL_BITS, then the logits) as
// ceil(OUT_BITS / 8) bytes, least significant first.
// Resynchronization: when the line stays idle for IDLE_CYCLES in the middle of a segment (a byte was lost), the
// partial segment and whatever is in flight are dropped (bcrnn_top is reset) and the next byte starts a segment.
// `overrun` is sticky: a pixel arrived before bcrnn_top took the previous one (cannot happen while the UART is
// slower than the network's CH/PE cycles per pixel; it is there so that a board shows it if it ever does).
module bcrnn_uart #(
    parameter int C            = 3,            // int8 codes per pixel (bcrnn_top's s_tdata is C * 8 bits)
    parameter int P            = 12000,        // pixels per segment (300 frames x 40 bands)
    parameter int OUT_BITS     = 115,          // width of bcrnn_top's m_tdata
    parameter int LABEL_BITS   = 3,            // the label's width at the bottom of m_tdata
    parameter int CLKS_PER_BIT = 33,           // f_clk / baud rate (100 MHz / 3 Mbaud)
    parameter int IDLE_CYCLES  = 1 << 24       // idle line in a segment longer than this: resynchronize
) (
    input  wire                   clk,
    input  wire                   rst_n,       // synchronous, active low
    input  wire                   rx,
    output logic                  tx,
    output logic [LABEL_BITS-1:0] label,       // the last segment's label
    output logic                  overrun
);
    localparam int NB  = (OUT_BITS + 7) / 8;   // bytes per result
    localparam int CBW = (C > 1) ? $clog2(C) : 1;
    localparam int PW  = $clog2(P + 1);
    localparam int IW  = $clog2(IDLE_CYCLES + 1);
    localparam int NBW = $clog2(NB + 1);
    initial if (LABEL_BITS > OUT_BITS || C < 1 || P < 1)
        $fatal(1, "bcrnn_uart: need C >= 1, P >= 1 and LABEL_BITS (%0d) <= OUT_BITS (%0d)", LABEL_BITS, OUT_BITS);

    logic [7:0] rx_byte;
    logic       rx_valid;
    uart_rx #(.CLKS_PER_BIT(CLKS_PER_BIT)) u_rx (.clk(clk), .rst_n(rst_n), .rx(rx), .m_tdata(rx_byte),
                                                 .m_tvalid(rx_valid));

    // bytes -> pixels; counters of the segment in progress; the idle watchdog
    logic [C*8-1:0] pixel;
    logic           pixel_valid, pixel_ready;
    logic [CBW-1:0] byte_index;
    logic [PW-1:0]  pixel_index;
    logic [IW-1:0]  idle;
    logic           resync, core_rst_n;

    assign resync = (idle == IW'(IDLE_CYCLES)) && (byte_index != 0 || pixel_index != 0);

    always_ff @(posedge clk) begin
        if (!rst_n || resync) begin
            byte_index <= '0; pixel_index <= '0; pixel_valid <= 1'b0; idle <= '0;
        end else begin
            if (pixel_valid && pixel_ready) pixel_valid <= 1'b0;
            if (rx_valid) begin
                idle <= '0;
                pixel <= {rx_byte, pixel[C*8-1:8]};            // channel 0 arrives first, ends at the bottom
                if (byte_index == CBW'(C - 1)) begin
                    byte_index <= '0;
                    pixel_valid <= 1'b1;
                    pixel_index <= (pixel_index == PW'(P - 1)) ? '0 : pixel_index + 1'b1;
                end else begin
                    byte_index <= byte_index + 1'b1;
                end
            end else if (idle != IW'(IDLE_CYCLES)) begin
                idle <= idle + 1'b1;
            end
        end
    end

    always_ff @(posedge clk) begin
        if (!rst_n) overrun <= 1'b0;
        else if (rx_valid && byte_index == CBW'(C - 1) && pixel_valid && !pixel_ready) overrun <= 1'b1;
        core_rst_n <= rst_n && !resync;
    end

    // the network
    logic [OUT_BITS-1:0] result;
    logic                result_valid, result_ready;
    bcrnn_top u_top (
        .clk(clk), .rst_n(core_rst_n),
        .s_tdata(pixel), .s_tvalid(pixel_valid), .s_tready(pixel_ready),
        .m_tdata(result), .m_tvalid(result_valid), .m_tready(result_ready),
        .pool_tdata(), .pool_tvalid(), .pool_tready()
    );

    // result -> bytes
    logic [NB*8-1:0] out_shift;
    logic [NBW-1:0]  bytes_left;
    logic            tx_ready;
    assign result_ready = (bytes_left == 0);

    always_ff @(posedge clk) begin
        if (!rst_n) begin
            bytes_left <= '0; label <= '0;
        end else if (result_valid && result_ready) begin
            out_shift <= (NB * 8)'(result);
            bytes_left <= NBW'(NB);
            label <= result[LABEL_BITS-1:0];
        end else if (bytes_left != 0 && tx_ready) begin
            out_shift <= out_shift >> 8;
            bytes_left <= bytes_left - 1'b1;
        end
    end

    uart_tx #(.CLKS_PER_BIT(CLKS_PER_BIT)) u_tx (.clk(clk), .rst_n(rst_n), .s_tdata(out_shift[7:0]),
                                                 .s_tvalid(bytes_left != 0), .s_tready(tx_ready), .tx(tx));
endmodule

`resetall
