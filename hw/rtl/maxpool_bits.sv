`resetall
`timescale 1ns / 1ps
`default_nettype none

// maxpool_bits: non-overlapping PT x PF max-pool of bipolar bits (= OR) on a row-major pixel stream.
//
// Input stream: the pixels of T x F images, row-major, one pixel of C bits per beat (channel c at s_tdata[c]);
//   images follow each other back to back (T*F beats each).
// Output stream: T2 x F2 pooled pixels per image (T2 = T / PT, F2 = F / PF, truncating), row-major, C bits per
//   beat: pooled (i, j) channel c = OR of the input pixels (i*PT + a, j*PF + b), a < PT, b < PF. Pixels of the
//   rows >= T2*PT and columns >= F2*PF are consumed and dropped, as bcrnn.reference.model._or_pool does.
//
// Structure: a horizontal OR register over the PF pixels of a group and a line buffer of F2 partial ORs (C bits
//   each) over the PT rows of a group; the pixel completing a group (last row, last column) produces the output.
//   The output is a skid buffer (an output register and a spare one, as alexforencich's axis_register with
//   REG_TYPE = 2): s_tready comes from registers only, never from m_tready, so no ready path runs through this
//   block from the consumer to the producer.
// Cycles: one input pixel per cycle; the output beat leaves one cycle after the pixel completing it. The input
//   stalls only at a completing pixel while both output registers are full.
module maxpool_bits #(
    parameter int C = 64,
    parameter int T = 300,
    parameter int F = 40,
    parameter int PT = 2,
    parameter int PF = 4
) (
    input  logic          clk,
    input  logic          rst_n,
    input  logic [C-1:0]  s_tdata,
    input  logic          s_tvalid,
    output logic          s_tready,
    output logic [C-1:0]  m_tdata,
    output logic          m_tvalid,
    input  logic          m_tready
);
    localparam int T2 = T / PT;
    localparam int F2 = F / PF;
    localparam int RB = (T > 1) ? $clog2(T) : 1;
    localparam int CB = (F > 1) ? $clog2(F) : 1;
    localparam int PTB = (PT > 1) ? $clog2(PT) : 1;
    localparam int PFB = (PF > 1) ? $clog2(PF) : 1;
    localparam int F2B = (F2 > 1) ? $clog2(F2) : 1;

    initial if (C < 1 || T < 1 || F < 1 || PT < 1 || PF < 1 || PT > T || PF > F)
        $fatal(1, "maxpool_bits: need C, T, F, PT, PF >= 1, PT <= T and PF <= F (C=%0d T=%0d F=%0d PT=%0d PF=%0d)",
               C, T, F, PT, PF);

    logic [RB-1:0]  r;          // input row, column
    logic [CB-1:0]  c;
    logic [PTB-1:0] ri;         // r mod PT, c mod PF
    logic [PFB-1:0] ci;
    logic [F2B-1:0] fc;         // c / PF (saturates at F2 in the dropped columns; unused there)
    logic           row_in;     // r < T2*PT
    logic           col_in;     // c < F2*PF
    logic           r_last;     // r == T-1, c == F-1 (registered so that no compare sits before the counters)
    logic           c_last;

    logic [C-1:0] hacc;
    logic [C-1:0] line [0:F2-1];

    // skid buffer: m_tdata/m_tvalid the output register, skid_data/skid_valid the spare
    logic [C-1:0] skid_data;
    logic         skid_valid;
    logic         out_ready;    // registered: the skid buffer can take a beat in this cycle

    logic in_range, col_last, emit_pos, fire, emit;
    assign in_range = row_in && col_in;
    assign col_last = (ci == PFB'(PF - 1));
    assign emit_pos = in_range && col_last && (ri == PTB'(PT - 1));
    assign s_tready = !emit_pos || out_ready;
    assign fire = s_tvalid && s_tready;
    assign emit = fire && emit_pos;

    logic [C-1:0] hnew, vnew;
    always_comb begin
        hnew = (ci == '0) ? s_tdata : (hacc | s_tdata);
        vnew = (ri == '0) ? hnew : (line[fc] | hnew);
    end

    always_ff @(posedge clk) begin
        if (fire && in_range) begin
            hacc <= hnew;
            if (col_last) line[fc] <= vnew;
        end
        if (emit && (!m_tvalid || m_tready)) m_tdata <= vnew;
        else if (m_tready && skid_valid) m_tdata <= skid_data;
        if (emit && m_tvalid && !m_tready) skid_data <= vnew;
    end

    always_ff @(posedge clk) begin
        if (!rst_n) begin
            r <= '0;
            c <= '0;
            ri <= '0;
            ci <= '0;
            fc <= '0;
            row_in <= (T2 > 0);
            col_in <= (F2 > 0);
            r_last <= (T == 1);
            c_last <= (F == 1);
            m_tvalid <= 1'b0;
            skid_valid <= 1'b0;
            out_ready <= 1'b0;
        end else begin
            if (fire) begin
                if (c_last) begin
                    c <= '0;
                    ci <= '0;
                    fc <= '0;
                    col_in <= (F2 > 0);
                    c_last <= (F == 1);
                    if (r_last) begin
                        r <= '0;
                        ri <= '0;
                        row_in <= (T2 > 0);
                        r_last <= (T == 1);
                    end else begin
                        r <= r + 1'b1;
                        r_last <= (r == RB'(T - 2));
                        if (ri == PTB'(PT - 1)) begin
                            ri <= '0;
                            if (r + 1 >= T2 * PT) row_in <= 1'b0;
                        end else begin
                            ri <= ri + 1'b1;
                        end
                    end
                end else begin
                    c <= c + 1'b1;
                    c_last <= (c == CB'(F - 2));
                    if (ci == PFB'(PF - 1)) begin
                        ci <= '0;
                        if (c + 1 >= F2 * PF) col_in <= 1'b0;
                        else fc <= fc + 1'b1;
                    end else begin
                        ci <= ci + 1'b1;
                    end
                end
            end
            // skid buffer (axis_register REG_TYPE = 2): room next cycle unless the spare is or becomes full
            out_ready <= m_tready || (!skid_valid && (!m_tvalid || !emit));
            if (!m_tvalid || m_tready) begin
                m_tvalid <= emit || skid_valid;
                skid_valid <= 1'b0;
            end else if (emit) begin
                skid_valid <= 1'b1;
            end
        end
    end
endmodule

`resetall
