`resetall
`timescale 1ns / 1ps
`default_nettype none

// time_sum: the BCRNN's pooling over time (docs/numeric_spec.md, "pool").
//
// Input: T beats of N bits per sequence (the BiLSTM output frames, bit j of beat t = b_tj, 1 = +1, 0 = -1).
// Output: one beat per sequence with the N signed sums S_j = sum_t (2 b_tj - 1), each in [-T, T]; S_j is at
// m_tdata[j*SW +: SW] (two's complement). bcrnn.reference: `pooled = (2 * lstm - 1).sum(axis=0)`.
//
// Timing: one input beat per cycle; the sums of a sequence are registered one cycle after its last beat, into an
// output register separate from the accumulators, so the next sequence streams in without a gap while the result
// waits for m_tready. Only the last beat of a sequence waits (s_tready low) while the previous result is still
// unsent. Cycles per sequence at full rate: T (T >= 2); latency from the last input beat to m_tvalid: 1 cycle.
// `last` (this beat closes the sequence) is a register, so s_tready and the enables of the wide accumulator and
// output registers are one gate from registers.
//
// Accumulators start at -T and add 2 b per beat (their LSB is the constant parity of T; synthesis drops it).
module time_sum #(
    parameter int N  = 128,                   // bits per input beat (2H)
    parameter int T  = 150,                   // beats per sequence (frames)
    parameter int SW = $clog2(T + 1) + 1      // width of one signed sum, holds [-T, T]
) (
    input  wire             clk,
    input  wire             rst_n,            // synchronous, active low
    input  wire  [N-1:0]    s_tdata,
    input  wire             s_tvalid,
    output logic            s_tready,
    output logic [N*SW-1:0] m_tdata,
    output logic            m_tvalid,
    input  wire             m_tready
);
    localparam int CW = (T > 1) ? $clog2(T) : 1;          // beat counter 0 .. T-1
    localparam logic [SW-1:0] MINUS_T = SW'(-T);

    initial if (T < 1 || N < 1) $fatal(1, "time_sum: N (%0d) and T (%0d) must be positive", N, T);

    logic [N*SW-1:0] acc;                                  // running sums - ... + -T
    logic [CW-1:0]   cnt;
    logic            last;                                 // cnt == T - 1
    logic            take;
    logic [N*SW-1:0] acc_next;                             // acc + 2 b for every lane

    assign s_tready  = !last || !m_tvalid;                 // registered signals only
    assign take      = s_tvalid && s_tready;

    always_comb begin
        for (int j = 0; j < N; j++)
            acc_next[j*SW +: SW] = acc[j*SW +: SW] + (SW'(s_tdata[j]) << 1);
    end

    always_ff @(posedge clk) begin
        if (!rst_n) begin
            cnt      <= '0;
            last     <= (T == 1);
            m_tvalid <= 1'b0;
        end else begin
            if (m_tvalid && m_tready)
                m_tvalid <= 1'b0;
            if (take) begin
                if (last) begin
                    m_tvalid <= 1'b1;
                    cnt      <= '0;
                    last     <= (T == 1);
                end else begin
                    cnt  <= cnt + 1'b1;
                    last <= (int'(cnt) == T - 2);
                end
            end
        end
    end

    // the wide registers: the restart of the sums is the flip-flops' synchronous reset, not a multiplexer
    always_ff @(posedge clk) begin
        if (!rst_n || (take && last)) acc <= {N{MINUS_T}};
        else if (take)                acc <= acc_next;
    end

    always_ff @(posedge clk) begin
        if (!rst_n)                m_tdata <= '0;
        else if (take && last)     m_tdata <= acc_next;
    end
endmodule

`resetall
