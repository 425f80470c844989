// mvu_int8: the first convolution layer's matrix-vector unit: int8 codes x +-1 weights, threshold per channel.
//
// Input stream: one window per beat, K signed elements of W bits, element i at s_tdata[i*W +: W] (from conv_window:
//   K = C*KT*KF in (kt, kf, c) order).
// Output stream: one output pixel per window, CH bits, channel o at m_tdata[o]:
//   acc_o = sum_i q_i * (w_oi ? +1 : -1)
//   bit_o = (acc_o >= T_o) if direction_o = +1, (acc_o <= T_o) if direction_o = -1        (bcrnn.reference)
// Arithmetic: each product is formed as the ones' complement q XOR {W{~w}} (= q for w = +1, -q - 1 for w = -1), which
//   the synthesizer folds into the first adder level, so the engine's sum is acc_o - z_o, where z_o = the number of
//   -1 weights of channel o; the threshold ROM holds T_o - z_o (same comparison, same direction).
// Folding: PE output channels in parallel, SIMD window elements per cycle: NF = CH/PE channel folds x
//   SF = K/SIMD element folds = NF*SF cycles per window (PE | CH, SIMD | K). Each PE row sums its SIMD products in
//   groups of GS elements (adder trees, registered), then sums the group sums (registered), then accumulates and
//   thresholds: a 4-stage pipeline; the whole pipeline stalls only when a finished pixel finds the output register
//   still full.
//
// ROMs ($readmemh, written by bcrnn.rtl.frontend_files.write_conv0_files):
//   W_FILE: NF*SF words of PE*SIMD bits; word nf*SF + sf, bit pe*SIMD + s = weight bit (1 = +1) of channel
//           nf*PE + pe, window element sf*SIMD + s.
//   T_FILE: NF words of PE*(ACC_W+1) bits; word nf, bits [pe*(ACC_W+1) +: ACC_W] = T - z of channel o = nf*PE + pe
//           (two's complement), bit pe*(ACC_W+1) + ACC_W = its direction (1: >=, 0: <=).
//
// Cycles: a window every max(NF*SF, 2) cycles in steady state (a window waits in the input register while the
//   engine works on the previous one from its work register); with an idle engine, the pixel of a window accepted
//   in cycle a is taken in cycle a + NF*SF + 5 (1 to load, NF*SF folds, 4 pipeline stages incl. the output).
module mvu_int8 #(
    parameter int K = 45,            // window elements
    parameter int W = 8,             // bits of an element (signed)
    parameter int CH = 64,           // output channels
    parameter int PE = 8,            // channels per cycle
    parameter int SIMD = 45,         // window elements per cycle
    parameter int GS = 16,           // adder-tree group (pipeline cut inside a PE row)
    parameter W_FILE = "",
    parameter T_FILE = ""
) (
    input  logic              clk,
    input  logic              rst_n,
    input  logic [K*W-1:0]    s_tdata,
    input  logic              s_tvalid,
    output logic              s_tready,
    output logic [CH-1:0]     m_tdata,
    output logic              m_tvalid,
    input  logic              m_tready
);
    localparam int NF = CH / PE;
    localparam int SF = K / SIMD;
    localparam int ACC_W = $clog2(K * (1 << (W - 1)) + K + 2) + 1;  // |acc - z|, |T - z| <= K 2^(W-1) + K + 1
    localparam int TW = ACC_W + 1;
    localparam int G = (SIMD + GS - 1) / GS;                     // groups per PE row
    localparam int NFB = (NF > 1) ? $clog2(NF) : 1;
    localparam int SFB = (SF > 1) ? $clog2(SF) : 1;
    localparam int AB = (NF * SF > 1) ? $clog2(NF * SF) : 1;
    localparam int PW = W;                                        // a product q or ~q

    logic [PE*SIMD-1:0] wrom [0:NF*SF-1];
    logic [PE*TW-1:0]   trom [0:NF-1];
    initial begin
        $readmemh(W_FILE, wrom);
        $readmemh(T_FILE, trom);
    end

    // ---------------- input register and work register ----------------
    logic [K*W-1:0] xbuf, work;
    logic xbuf_valid, work_valid;
    assign s_tready = !xbuf_valid;

    // ---------------- stage 0: fold counters ----------------
    logic [AB-1:0]  a0;
    logic [NFB-1:0] nf0;
    logic [SFB-1:0] sf0;
    logic en, issue, last0, load;
    assign last0 = (a0 == AB'(NF * SF - 1));
    assign issue = work_valid && en;
    assign load = xbuf_valid && (!work_valid || (issue && last0));

    // ---------------- pipeline registers ----------------
    logic                 v1, f1, l1, v2, f2, l2, v3, f3, l3;
    logic [NFB-1:0]       nf1, nf2, nf3;
    logic [PE*SIMD-1:0]   w1;
    logic [SIMD*W-1:0]    x1;
    logic [PE*G*ACC_W-1:0] gs2;
    logic [PE*ACC_W-1:0]  ps3;
    logic [PE*TW-1:0]     t3;
    logic [PE*ACC_W-1:0]  acc;
    logic [CH-1:0]        pix;

    wire final3 = v3 && l3 && (nf3 == NFB'(NF - 1));
    assign en = !(final3 && m_tvalid && !m_tready);

    // products q (w = +1) or ~q = -q - 1 (w = -1), PE rows x SIMD
    logic [PE*SIMD*PW-1:0] prod;
    always_comb begin
        for (int pe = 0; pe < PE; pe++)
            for (int s = 0; s < SIMD; s++)
                prod[(pe*SIMD + s)*PW +: PW] = x1[s*W +: W] ^ {W{~w1[pe*SIMD + s]}};
    end

    logic [PE*G*ACC_W-1:0] gsum;
    logic [PE*ACC_W-1:0]   psum;
    genvar gp, gg;
    for (gp = 0; gp < PE; gp++) begin : g_pe
        for (gg = 0; gg < G; gg++) begin : g_grp
            localparam int GN = (gg == G - 1) ? SIMD - gg * GS : GS;
            fe_sum_tree #(.N(GN), .IN_W(PW), .OUT_W(ACC_W), .IN_SIGNED(1'b1)) u_grp (
                .in(prod[(gp*SIMD + gg*GS)*PW +: GN*PW]),
                .sum(gsum[(gp*G + gg)*ACC_W +: ACC_W]));
        end
        fe_sum_tree #(.N(G), .IN_W(ACC_W), .OUT_W(ACC_W), .IN_SIGNED(1'b1)) u_row (
            .in(gs2[gp*G*ACC_W +: G*ACC_W]),
            .sum(psum[gp*ACC_W +: ACC_W]));
    end

    // stage 4: accumulate, threshold
    logic [PE*ACC_W-1:0] acc_new;
    logic [PE-1:0] bits;
    logic [CH-1:0] pix_next;
    always_comb begin
        logic signed [ACC_W-1:0] a, th;
        for (int pe = 0; pe < PE; pe++) begin
            a = (f3 ? '0 : acc[pe*ACC_W +: ACC_W]) + ps3[pe*ACC_W +: ACC_W];
            th = t3[pe*TW +: ACC_W];
            acc_new[pe*ACC_W +: ACC_W] = a;
            bits[pe] = t3[pe*TW + ACC_W] ? (a >= th) : (a <= th);
        end
        pix_next = pix;
        pix_next[nf3*PE +: PE] = bits;
    end

    always_ff @(posedge clk) begin
        if (s_tvalid && s_tready) xbuf <= s_tdata;
        if (load) work <= xbuf;
        if (en) begin
            w1 <= wrom[a0];
            x1 <= work[sf0*SIMD*W +: SIMD*W];
            f1 <= (sf0 == '0);
            l1 <= (sf0 == SFB'(SF - 1));
            nf1 <= nf0;
            gs2 <= gsum;
            f2 <= f1;
            l2 <= l1;
            nf2 <= nf1;
            ps3 <= psum;
            t3 <= trom[nf2];
            f3 <= f2;
            l3 <= l2;
            nf3 <= nf2;
            if (v3) acc <= acc_new;
            if (v3 && l3) pix <= pix_next;
            if (final3) m_tdata <= pix_next;
        end
    end

    always_ff @(posedge clk) begin
        if (!rst_n) begin
            xbuf_valid <= 1'b0;
            work_valid <= 1'b0;
            a0 <= '0;
            nf0 <= '0;
            sf0 <= '0;
            v1 <= 1'b0;
            v2 <= 1'b0;
            v3 <= 1'b0;
            m_tvalid <= 1'b0;
        end else begin
            if (s_tvalid && s_tready) xbuf_valid <= 1'b1;
            else if (load) xbuf_valid <= 1'b0;
            if (load) work_valid <= 1'b1;
            else if (issue && last0) work_valid <= 1'b0;
            if (issue) begin
                a0 <= last0 ? '0 : a0 + 1'b1;
                if (sf0 == SFB'(SF - 1)) begin
                    sf0 <= '0;
                    nf0 <= (nf0 == NFB'(NF - 1)) ? '0 : nf0 + 1'b1;
                end else begin
                    sf0 <= sf0 + 1'b1;
                end
            end
            if (en) begin
                v1 <= issue;
                v2 <= v1;
                v3 <= v2;
            end
            if (en && final3) m_tvalid <= 1'b1;
            else if (m_tready) m_tvalid <= 1'b0;
        end
    end
endmodule
