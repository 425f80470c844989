`resetall
`timescale 1ns / 1ps
`default_nettype none

// time_sum: the BCRNN's pooling over time (docs/numeric_spec.md, "pool").
//
// Input: T beats of N bits per sequence (the BiLSTM output frames, bit j of beat t = b_tj, 1 = +1, 0 = -1).
// Output: one beat per sequence with the N signed sums S_j = sum_t (2 b_tj - 1), each in [-T, T]; S_j is at
// m_tdata[j*SW +: SW] (two's complement). bcrnn.reference: `pooled = (2 * lstm - 1).sum(axis=0)`.
//
// Timing: one input beat per cycle. An accepted beat is registered first (its bits, zero when no beat is taken,
// and `fin` when it closes the sequence); the accumulators add the registered bits every cycle, so their wide
// registers need no enable, and `fin` restarts them and loads the output register in the next cycle. `fin` is
// replicated, one copy per LANES lanes, so no single net drives the N * SW accumulator and output flip-flops
// (a fanout of thousands that routing alone made slower than a 10 ns cycle on an ECP5). The output register is
// separate from the accumulators, so the next sequence streams in without a gap while the result waits for
// m_tready; only the last beat of a sequence waits (s_tready low) while the previous result is unsent or on its
// way. Cycles per sequence at full rate: T (T >= 2); from the last input beat to m_tvalid: 2 cycles.
// s_tready is one gate from registers.
//
// Accumulators start at -T and add 2 b per beat (their LSB is the constant parity of T; synthesis drops it).
module time_sum #(
    parameter int N     = 128,                  // bits per input beat (2H)
    parameter int T     = 150,                  // beats per sequence (frames)
    parameter int SW    = $clog2(T + 1) + 1,    // width of one signed sum, holds [-T, T]
    parameter int LANES = 16                    // lanes per copy of the restart/load enable
) (
    input  wire             clk,
    input  wire             rst_n,              // synchronous, active low
    input  wire  [N-1:0]    s_tdata,
    input  wire             s_tvalid,
    output logic            s_tready,
    output logic [N*SW-1:0] m_tdata,
    output logic            m_tvalid,
    input  wire             m_tready
);
    localparam int CW = (T > 1) ? $clog2(T) : 1;          // beat counter 0 .. T-1
    localparam int G  = (N + LANES - 1) / LANES;          // copies of fin
    localparam logic [SW-1:0] MINUS_T = SW'(-T);

    initial if (T < 1 || N < 1 || LANES < 1)
        $fatal(1, "time_sum: N (%0d), T (%0d) and LANES (%0d) must be positive", N, T, LANES);

    logic [CW-1:0] cnt;
    logic          last;                                   // cnt == T - 1
    logic          fin_pending;                            // a registered beat closes a sequence (= every fin copy)
    logic          take;
    logic [N-1:0]  bits;                                   // the accepted beat's bits, 0 without a beat
    logic [G-1:0]  fin;                                    // copies of fin_pending, one per group of lanes

    // the last beat waits until the output register is free and no result is on its way into it
    assign s_tready = !last || !(m_tvalid || fin_pending);
    assign take     = s_tvalid && s_tready;

    always_ff @(posedge clk) begin
        if (!rst_n) begin
            cnt         <= '0;
            last        <= (T == 1);
            fin_pending <= 1'b0;
            m_tvalid    <= 1'b0;
            bits        <= '0;
        end else begin
            bits        <= take ? s_tdata : '0;
            fin_pending <= take && last;
            if (m_tvalid && m_tready)
                m_tvalid <= 1'b0;
            if (fin_pending)
                m_tvalid <= 1'b1;
            if (take) begin
                if (last) begin
                    cnt  <= '0;
                    last <= (T == 1);
                end else begin
                    cnt  <= cnt + 1'b1;
                    last <= (int'(cnt) == T - 2);
                end
            end
        end
    end

    for (genvar g = 0; g < G; g++) begin : g_lanes
        localparam int LO = g * LANES;
        localparam int HI = (LO + LANES < N) ? LO + LANES : N;

        // kept apart: synthesis would merge the identical copies back into one net
        (* keep *) always_ff @(posedge clk) begin
            if (!rst_n) fin[g] <= 1'b0;
            else        fin[g] <= take && last;
        end

        // the wide registers: the restart of the sums is the flip-flops' synchronous reset, not a multiplexer
        for (genvar j = LO; j < HI; j++) begin : g_lane
            logic [SW-1:0] acc;                            // running sum -T + 2 (b_0 + ...)
            wire  [SW-1:0] acc_next = acc + (SW'(bits[j]) << 1);
            always_ff @(posedge clk) begin
                if (!rst_n || fin[g]) acc <= MINUS_T;
                else                  acc <= acc_next;
            end
            always_ff @(posedge clk) begin
                if (fin[g]) m_tdata[j*SW +: SW] <= acc_next;
            end
        end
    end
endmodule

`resetall
