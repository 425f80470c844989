`resetall
`timescale 1ns / 1ps
`default_nettype none

// uart_rx: 8N1 serial receiver. The line is synchronized by two flip-flops, the start bit is checked at its middle
// and each data bit sampled at its middle, CLKS_PER_BIT clocks apart. A byte whose stop bit is low (a framing
// error, e.g. a break) is dropped. Output: a one-cycle m_tvalid pulse per byte; there is no backpressure, the
// consumer takes the byte in that cycle.
module uart_rx #(
    parameter int CLKS_PER_BIT = 33            // clock cycles per bit: f_clk / baud rate, >= 4
) (
    input  wire        clk,
    input  wire        rst_n,                  // synchronous, active low
    input  wire        rx,                     // the serial line, idle high
    output logic [7:0] m_tdata,
    output logic       m_tvalid
);
    localparam int CW = $clog2(CLKS_PER_BIT + 1);
    initial if (CLKS_PER_BIT < 4) $fatal(1, "uart_rx: CLKS_PER_BIT (%0d) must be >= 4", CLKS_PER_BIT);

    typedef enum logic [1:0] {IDLE, START, DATA, STOP} state_t;
    state_t         state;
    logic [1:0]     sync;                      // two-flop synchronizer; sync[1] is the line
    logic [CW-1:0]  count;                     // clocks left until the next sample
    logic [2:0]     bit_index;
    logic [7:0]     shift;

    always_ff @(posedge clk) begin
        if (!rst_n) begin
            sync <= 2'b11; state <= IDLE; count <= '0; bit_index <= '0; m_tvalid <= 1'b0;
        end else begin
            sync <= {sync[0], rx};
            m_tvalid <= 1'b0;
            case (state)
                IDLE: if (!sync[1]) begin
                    state <= START;
                    count <= CW'(CLKS_PER_BIT / 2 - 1);
                end
                START: if (count != 0) count <= count - 1'b1;
                       else if (sync[1]) state <= IDLE;            // a glitch, not a start bit
                       else begin state <= DATA; count <= CW'(CLKS_PER_BIT - 1); bit_index <= '0; end
                DATA: if (count != 0) count <= count - 1'b1;
                      else begin
                          shift <= {sync[1], shift[7:1]};         // least significant bit first
                          count <= CW'(CLKS_PER_BIT - 1);
                          bit_index <= bit_index + 1'b1;
                          if (bit_index == 3'd7) state <= STOP;
                      end
                STOP: if (count != 0) count <= count - 1'b1;
                      else begin
                          state <= IDLE;
                          if (sync[1]) begin m_tdata <= shift; m_tvalid <= 1'b1; end
                      end
                default: state <= IDLE;
            endcase
        end
    end
endmodule

`resetall
