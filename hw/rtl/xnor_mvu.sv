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
//   Each PE row popcounts its SIMD XNOR bits in groups of GS (registered), sums the groups (registered),
//   accumulates and thresholds: a 4-stage pipeline; it stalls only when a finished vector finds the output
//   register still full.
//
// ROMs ($readmemh, written by bcrnn.rtl.frontend_files.write_xnor_mvu_files):
//   W_FILE: NF*SF words of PE*SIMD bits; word nf*SF + sf, bit pe*SIMD + s = weight bit of row nf*PE + pe, column
//           sf*SIMD + s.
//   T_FILE (NO_ACTIVATION = 0 only): NF words of PE*(DOT_W+1) bits; word nf, bits [pe*(DOT_W+1) +: DOT_W] = T of
//           row nf*PE + pe (two's complement), bit pe*(DOT_W+1) + DOT_W = its direction (1: >=, 0: <=).
//
// Cycles: a vector every max(NF*SF, NB, 2) cycles in steady state (NB beats to fill the input buffer, which frees
//   when the work buffer takes the vector); with an idle engine, the output beat of a vector whose last input beat
//   is taken in cycle b is taken in cycle b + NF*SF + 5 (1 to load, NF*SF folds, 4 pipeline stages incl. output).
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

    logic [PE*SIMD-1:0] wrom [0:NF*SF-1];
    logic [PE*TW-1:0]   trom [0:NF-1];
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

    // ---------------- sequencing: fold counters, pipeline tags, output valid (shared with mvu_int8) ----------
    logic [AB-1:0]  a0;
    logic [SFB-1:0] sf0;
    logic [NFB-1:0] nf1, nf2, nf3;
    logic en, load, f1, l1, v3, f3, l3, final3;
    mvu_control #(.NF(NF), .SF(SF)) u_control (
        .clk(clk), .rst_n(rst_n), .xbuf_full(xbuf_full), .load(load), .en(en), .a0(a0), .sf0(sf0),
        .f1(f1), .l1(l1), .nf1(nf1), .nf2(nf2), .v3(v3), .f3(f3), .l3(l3), .nf3(nf3), .final3(final3),
        .m_tvalid(m_tvalid), .m_tready(m_tready));

    // ---------------- pipeline registers ----------------
    logic [PE*SIMD-1:0]    w1;
    logic [SIMD-1:0]       x1;
    logic [PE*G*GW-1:0]    gs2;
    logic [PE*PCW-1:0]     ps3;
    logic [PE*TW-1:0]      t3;
    logic [PE*ACW-1:0]     acc;
    logic [OUT_W-1:0]      pix;


    // stage 2: each PE row's XNOR bits popcounted in groups of GS (the XNOR is kept in a variable before
    // $countones: Icarus 11 miscounts $countones(~(a ^ b)))
    logic [PE*G*GW-1:0] gsum;
    always_comb begin
        logic [G*GS-1:0] xn;    // zero-padded to whole groups
        logic [GS-1:0] grp;
        for (int pe = 0; pe < PE; pe++) begin
            xn = '0;
            xn[SIMD-1:0] = ~(w1[pe*SIMD +: SIMD] ^ x1);
            for (int g = 0; g < G; g++) begin
                grp = xn[g*GS +: GS];
                gsum[(pe*G + g)*GW +: GW] = GW'($countones(grp));
            end
        end
    end

    // stage 3: the row's popcount of this fold
    logic [PE*PCW-1:0] psum;
    always_comb begin
        logic [PCW-1:0] s;
        for (int pe = 0; pe < PE; pe++) begin
            s = '0;
            for (int g = 0; g < G; g++) s = s + PCW'(gs2[(pe*G + g)*GW +: GW]);
            psum[pe*PCW +: PCW] = s;
        end
    end

    // stage 4: accumulate; dot = 2 acc - MW; threshold or pass
    logic [PE*ACW-1:0] acc_new;
    logic [PE*RW-1:0]  rows;
    logic [OUT_W-1:0]  pix_next;
    always_comb begin
        logic [ACW-1:0] a, p;
        logic signed [DOT_W:0] dot;
        logic signed [DOT_W-1:0] th;
        for (int pe = 0; pe < PE; pe++) begin
            p = ps3[pe*PCW +: PCW];
            a = (f3 ? '0 : acc[pe*ACW +: ACW]) + p;
            acc_new[pe*ACW +: ACW] = a;
            dot = $signed({1'b0, a, 1'b0}) - MW_S;
            th = t3[pe*TW +: DOT_W];
            if (NO_ACTIVATION) rows[pe*RW +: RW] = RW'(dot);
            else rows[pe*RW +: RW] = RW'(t3[pe*TW + DOT_W] ? (dot >= th) : (dot <= th));
        end
        pix_next = pix;
        pix_next[nf3*PE*RW +: PE*RW] = rows;
    end

    always_ff @(posedge clk) begin
        if (s_fire) xbuf[beat*IN_W +: IN_W] <= s_tdata;
        if (load) work <= xbuf;
        if (en) begin
            w1 <= wrom[a0];
            x1 <= work[sf0*SIMD +: SIMD];
            gs2 <= gsum;
            ps3 <= psum;
            t3 <= NO_ACTIVATION ? '0 : trom[nf2];
            if (v3) acc <= acc_new;
            if (v3 && l3) pix <= pix_next;
            if (final3) m_tdata <= pix_next;
        end
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
