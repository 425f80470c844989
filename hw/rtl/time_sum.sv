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
//
// Accumulators start at -T and add 2 b per beat (their LSB is the constant parity of T; synthesis drops it).
module time_sum #(
    parameter int N  = 128,                   // bits per input beat (2H)
    parameter int T  = 150,                   // beats per sequence (frames)
    parameter int SW = $clog2(T + 1) + 1      // width of one signed sum, holds [-T, T]
) (
    input  logic            clk,
    input  logic            rst_n,            // synchronous, active low
    input  logic [N-1:0]    s_tdata,
    input  logic            s_tvalid,
    output logic            s_tready,
    output logic [N*SW-1:0] m_tdata,
    output logic            m_tvalid,
    input  logic            m_tready
);
    localparam int CW = (T > 1) ? $clog2(T) : 1;          // beat counter 0 .. T-1
    localparam logic [SW-1:0] MINUS_T = SW'(-T);
    localparam logic [CW-1:0] LAST = CW'(T - 1);

    logic [N*SW-1:0] acc;                                  // running sums - ... + -T
    logic [CW-1:0]   cnt;
    logic            last_beat, take;
    logic [N*SW-1:0] acc_next;                             // acc + 2 b for every lane

    assign last_beat = (cnt == LAST);
    assign s_tready  = !last_beat || !m_tvalid;            // registered signals only
    assign take      = s_tvalid && s_tready;

    always_comb begin
        for (int j = 0; j < N; j++)
            acc_next[j*SW +: SW] = acc[j*SW +: SW] + (SW'(s_tdata[j]) << 1);
    end

    always_ff @(posedge clk) begin
        if (!rst_n) begin
            acc      <= {N{MINUS_T}};
            cnt      <= '0;
            m_tvalid <= 1'b0;
            m_tdata  <= '0;
        end else begin
            if (m_tvalid && m_tready)
                m_tvalid <= 1'b0;
            if (take) begin
                if (last_beat) begin
                    m_tdata  <= acc_next;
                    m_tvalid <= 1'b1;
                    acc      <= {N{MINUS_T}};
                    cnt      <= '0;
                end else begin
                    acc <= acc_next;
                    cnt <= cnt + 1'b1;
                end
            end
        end
    end
endmodule
