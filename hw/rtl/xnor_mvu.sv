`resetall
`timescale 1ns / 1ps
`default_nettype none

// xnor_mvu: binary matrix-vector unit (XNOR-popcount), thresholded (MH bits) or raw (MH signed dot values).
//
// Input stream: vectors of MW bits (1 = +1, 0 = -1), each as NB = MW/IN_W beats of IN_W bits, vector bit i in beat
//   i / IN_W at bit i % IN_W (the dense layer: IN_W = 64 = one pooled pixel's channels, MW = 640 = one frame,
//   frequency-major, channels innermost). No tlast: vectors follow each other.
// Output stream, one beat per vector:
//   dot_r = 2 * popcount(XNOR(w_r, x)) - MW                          (bcrnn.reference.bits.xnor_popcount_dot)
//   NO_ACTIVATION = 0: MH bits, bit r = (dot_r >= T_r) if direction_r = +1, (dot_r <= T_r) if -1
//   NO_ACTIVATION = 1: MH values of DOT_W = clog2(MW+2)+1 bits (two's complement), row r at [r*DOT_W +: DOT_W]
// Folding: PE rows in parallel, SIMD bits per cycle: NF = MH/PE row folds x SF = MW/SIMD bit folds = NF*SF cycles
//   per vector (PE | MH, SIMD | MW, IN_W | MW). The vector is assembled from its beats in an input buffer, then
//   moved to a work buffer that all NF row folds read, so the next vector arrives while this one is computed.
// Pipeline (registers; mvu_control sequences it with DEPTH = 6): 1 the weight ROM word (block RAM) and the fold's
//   input bits, 2 and 3 both twice more (the block RAM's slow clock-to-out leaves no time for logic, nor for much
//   of the distance from the RAMs, spread along the die's RAM rows, to the logic), 4 the XNOR bits of every row (an
//   input bit fans out to PE rows), 5 each row's XNOR bits popcounted in groups of GS, 6 the groups summed, then
//   the accumulator (the threshold ROM word, in logic: it is small, meets it registered three times more, the last
//   plus MW, so that the compare needs no subtraction before it: dot >= T <=> 2 acc >= T + MW),
//   then the threshold compare (or dot = 2 acc - MW), whose rows shift into the output vector (PE at a time, fold
//   0 first). The pipeline never stalls: mvu_control lets a vector into the work buffer only when the output
//   registers can hold every vector in flight.
//
// ROMs ($readmemh, written by bcrnn.rtl.frontend_files.write_xnor_mvu_files):
//   W_FILE: NF*SF words of PE*SIMD bits; word nf*SF + sf, bit pe*SIMD + s = weight bit of row nf*PE + pe, column
//           sf*SIMD + s.
//   T_FILE (NO_ACTIVATION = 0 only): NF words of PE*(DOT_W+1) bits; word nf, bits [pe*(DOT_W+1) +: DOT_W] = T of
//           row nf*PE + pe (two's complement), bit pe*(DOT_W+1) + DOT_W = its direction (1: >=, 0: <=).
//
// Cycles: a vector every max(NF*SF, NB, 2) cycles in steady state (NB beats to fill the input buffer, which frees
//   when the work buffer takes the vector); with an idle engine, the output beat of a vector whose last input beat
//   is taken in cycle b is taken in cycle b + NF*SF + 9 (1 to load, NF*SF folds, 8 pipeline stages incl. output).
module xnor_mvu #(
    parameter int MW = 640,           // bits per input vector
    parameter int MH = 256,           // rows (outputs)
    parameter int PE = 8,             // rows per cycle
    parameter int SIMD = 64,          // bits per cycle
    parameter int IN_W = 64,          // bits per input beat
    parameter int GS = 16,            // popcount group (pipeline cut inside a PE row)
    parameter bit NO_ACTIVATION = 1'b0,
    parameter W_FILE = "",
    parameter T_FILE = ""
) (
    input  logic              clk,
    input  logic              rst_n,
    input  logic [IN_W-1:0]   s_tdata,
    input  logic              s_tvalid,
    output logic              s_tready,
    output logic [(NO_ACTIVATION ? MH * ($clog2(MW + 2) + 1) : MH)-1:0] m_tdata,
    output logic              m_tvalid,
    input  logic              m_tready
);
    localparam int DOT_W = $clog2(MW + 2) + 1;       // |dot| <= MW, |T| <= MW + 1
    localparam int OUT_W = NO_ACTIVATION ? MH * DOT_W : MH;
    localparam logic signed [DOT_W:0] MW_S = MW;
    localparam int NF = MH / PE;
    localparam int SF = MW / SIMD;
    localparam int NB = MW / IN_W;
    localparam int TW = DOT_W + 1;
    localparam int G = (SIMD + GS - 1) / GS;
    localparam int GW = $clog2(GS + 1);              // popcount of a group
    localparam int PCW = $clog2(SIMD + 1);           // popcount of a fold
    localparam int ACW = $clog2(MW + 1);             // popcount of a vector
    localparam int NFB = (NF > 1) ? $clog2(NF) : 1;
    localparam int SFB = (SF > 1) ? $clog2(SF) : 1;
    localparam int NBB = (NB > 1) ? $clog2(NB) : 1;
    localparam int AB = (NF * SF > 1) ? $clog2(NF * SF) : 1;
    localparam int RW = NO_ACTIVATION ? DOT_W : 1;   // one row's output
    localparam int DEPTH = 6;
    localparam int PERIOD = (NF * SF > NB) ? ((NF * SF > 2) ? NF * SF : 2) : ((NB > 2) ? NB : 2);

    initial if (PE < 1 || SIMD < 1 || IN_W < 1 || GS < 1 || MH % PE != 0 || MW % SIMD != 0 || MW % IN_W != 0)
        $fatal(1, "xnor_mvu: need PE | MH, SIMD | MW, IN_W | MW, GS >= 1 (MW=%0d MH=%0d PE=%0d SIMD=%0d IN_W=%0d)",
               MW, MH, PE, SIMD, IN_W);

    logic [PE*SIMD-1:0] wrom [0:NF*SF-1];
    (* rom_style = "logic" *) logic [PE*TW-1:0] trom [0:NF-1];
    initial begin
        $readmemh(W_FILE, wrom);
        if (!NO_ACTIVATION) $readmemh(T_FILE, trom);
    end

    // ---------------- input buffer (beats) and work buffer ----------------
    logic [MW-1:0] xbuf, work;
    logic [NBB-1:0] beat;
    logic xbuf_full;
    assign s_tready = !xbuf_full;
    wire s_fire = s_tvalid && s_tready;

    // ---------------- sequencing: fold counters, pipeline tags, output registers (shared with mvu_int8) ---------
    logic [AB-1:0]  a0;
    logic [SFB-1:0] sf0;
    logic [NFB-1:0] nft;
    logic load, va, fa, vc, final_c;
    logic [OUT_W-1:0] pix_next;
    mvu_control #(.NF(NF), .SF(SF), .DEPTH(DEPTH), .PERIOD(PERIOD), .OW(OUT_W)) u_control (
        .clk(clk), .rst_n(rst_n), .xbuf_full(xbuf_full), .load(load), .a0(a0), .sf0(sf0), .nft(nft),
        .va(va), .fa(fa), .vc(vc), .final_c(final_c), .beat(pix_next),
        .m_tdata(m_tdata), .m_tvalid(m_tvalid), .m_tready(m_tready));

    // ---------------- pipeline registers (the number is the stage) ----------------
    logic [PE*SIMD-1:0]    w1, w2, w3;
    logic [SIMD-1:0]       x1, x2, x3;
    logic [PE*SIMD-1:0]    xn4;        // XNOR(w, x) of row pe at [pe*SIMD +: SIMD]
    logic [PE*G*GW-1:0]    gs5;
    logic [PE*PCW-1:0]     ps6;
    logic [PE*TW-1:0]      t4, t5, t6; // thresholds (DOT_W) and directions, as the ROM holds them
    logic [PE*(TW+1)-1:0]  t7;         // T + MW (DOT_W + 1 bits, signed) and directions
    logic [PE*ACW-1:0]     acc;
    logic [OUT_W-1:0]      pix;        // output rows so far, shifted in PE at a time

    // stage 4: the XNOR bits of each PE row
    logic [PE*SIMD-1:0] xn;
    always_comb
        for (int pe = 0; pe < PE; pe++) xn[pe*SIMD +: SIMD] = ~(w3[pe*SIMD +: SIMD] ^ x3);

    // stage 5: each PE row's XNOR bits popcounted in groups of GS (a group is kept in a variable before $countones)
    logic [PE*G*GW-1:0] gsum;
    always_comb begin
        logic [G*GS-1:0] xv;    // zero-padded to whole groups
        logic [GS-1:0] grp;
        for (int pe = 0; pe < PE; pe++) begin
            xv = '0;
            xv[SIMD-1:0] = xn4[pe*SIMD +: SIMD];
            for (int g = 0; g < G; g++) begin
                grp = xv[g*GS +: GS];
                gsum[(pe*G + g)*GW +: GW] = GW'($countones(grp));
            end
        end
    end

    // stage 6: the row's popcount of this fold
    logic [PE*PCW-1:0] psum;
    always_comb begin
        logic [PCW-1:0] s;
        for (int pe = 0; pe < PE; pe++) begin
            s = '0;
            for (int g = 0; g < G; g++) s = s + PCW'(gs5[(pe*G + g)*GW +: GW]);
            psum[pe*PCW +: PCW] = s;
        end
    end

    // accumulate
    logic [PE*ACW-1:0] acc_new;
    always_comb begin
        logic [ACW-1:0] a;
        for (int pe = 0; pe < PE; pe++) begin
            a = (fa ? '0 : acc[pe*ACW +: ACW]) + ACW'(ps6[pe*PCW +: PCW]);
            acc_new[pe*ACW +: ACW] = a;
        end
    end

    // T + MW (a register before the compare), with the direction above it
    logic [PE*(TW+1)-1:0] t_adj;
    always_comb begin
        logic signed [DOT_W-1:0] th;
        logic signed [DOT_W:0] ta;
        for (int pe = 0; pe < PE; pe++) begin
            th = t6[pe*TW +: DOT_W];
            ta = th;                                // sign-extended
            ta = ta + MW_S;
            t_adj[pe*(TW+1) +: TW+1] = {t6[pe*TW + DOT_W], ta};
        end
    end

    // threshold the finished row fold (or pass its dots); its rows shift in at the top of the output vector
    logic [PE*RW-1:0]  rows;
    always_comb begin
        logic [ACW-1:0] a;
        logic signed [DOT_W:0] a2, ta, dot;
        for (int pe = 0; pe < PE; pe++) begin
            a = acc[pe*ACW +: ACW];
            a2 = $signed({1'b0, a, 1'b0});          // 2 acc <= 2 MW < 2^DOT_W
            ta = t7[pe*(TW+1) +: TW];
            dot = a2 - MW_S;
            if (NO_ACTIVATION) rows[pe*RW +: RW] = RW'(dot);
            else rows[pe*RW +: RW] = RW'(t7[pe*(TW+1) + TW] ? (a2 >= ta) : (a2 <= ta));
        end
        pix_next = (pix >> (PE*RW)) | (OUT_W'(rows) << (OUT_W - PE*RW));
    end

    always_ff @(posedge clk) begin
        if (s_fire) xbuf[beat*IN_W +: IN_W] <= s_tdata;
        if (load) work <= xbuf;
        w1 <= wrom[a0];
        x1 <= work[sf0*SIMD +: SIMD];
        w2 <= w1;
        x2 <= x1;
        w3 <= w2;
        x3 <= x2;
        xn4 <= xn;
        gs5 <= gsum;
        ps6 <= psum;
        t4 <= NO_ACTIVATION ? '0 : trom[nft];
        t5 <= t4;
        t6 <= t5;
        t7 <= t_adj;
        if (va) acc <= acc_new;
        if (vc) pix <= pix_next;
    end

    always_ff @(posedge clk) begin
        if (!rst_n) begin
            beat <= '0;
            xbuf_full <= 1'b0;
        end else if (s_fire) begin
            beat <= (beat == NBB'(NB - 1)) ? '0 : beat + 1'b1;
            if (beat == NBB'(NB - 1)) xbuf_full <= 1'b1;
        end else if (load) begin
            xbuf_full <= 1'b0;
        end
    end
endmodule

`resetall
