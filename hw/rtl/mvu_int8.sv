// mvu_int8: the first convolution layer's matrix-vector unit: int8 codes x +-1 weights (WB = 1) or x WB-bit signed
// weight codes (WB = 2..8: a model trained with first_conv_weight_bits = WB), threshold per channel.
//
// Input stream: one window per beat, K signed elements of W bits, element i at s_tdata[i*W +: W] (from conv_window:
//   K = C*KT*KF in (kt, kf, c) order).
// Output stream: one output pixel per window, CH bits, channel o at m_tdata[o]:
//   acc_o = sum_i q_i * (w_oi ? +1 : -1)
//   bit_o = (acc_o >= T_o) if direction_o = +1, (acc_o <= T_o) if direction_o = -1        (bcrnn.reference)
// Arithmetic: each product is formed as the ones' complement q XOR {W{~w}} (= q for w = +1, -q - 1 for w = -1), so
//   the engine's sum is acc_o - z_o, where z_o = the number of -1 weights of channel o; the threshold ROM holds
//   T_o - z_o (same comparison, same direction). Bit k of q XOR {W{~w}} is XNOR(q[k], w), so the sum is taken bit
//   plane by bit plane: sum = sum_k c_k 2^k popcount(XNOR(plane_k, w)) with c_k = +1, and -1 for the sign bit k = W-1,
//   where plane_k holds bit k of every window element: W binary XNOR-popcounts per row, shifted and added. (The
//   same sum as an adder tree over the SIMD int8 products; popcounts are what Icarus evaluates fast.)
// WB > 1: acc_o = sum_i q_i * w_oi with signed WB-bit codes w_oi, as SIMD signed products per PE row summed in one
//   stage (the stage that holds the popcounts for WB = 1, so the pipeline and its cycles are the same); the threshold
//   ROM holds T_o itself (no z).
// Folding: PE output channels in parallel, SIMD window elements per cycle: NF = CH/PE channel folds x
//   SF = K/SIMD element folds = NF*SF cycles per window (PE | CH, SIMD | K). Each PE row popcounts its W bit planes
//   (registered), sums them with their weights (registered), then accumulates and thresholds: a 4-stage pipeline;
//   the whole pipeline stalls only when a finished pixel finds the output register still full.
//
// ROMs ($readmemh, written by bcrnn.rtl.frontend_files.write_conv0_files):
//   W_FILE: NF*SF words of PE*SIMD*WB bits; word nf*SF + sf, bits (pe*SIMD + s)*WB +: WB = weight of channel
//           nf*PE + pe, window element sf*SIMD + s (WB = 1: the bit, 1 = +1; WB > 1: the two's complement code).
//   T_FILE: NF words of PE*(ACC_W+1) bits; word nf, bits [pe*(ACC_W+1) +: ACC_W] = T - z (WB = 1) or T (WB > 1)
//           of channel o = nf*PE + pe (two's complement), bit pe*(ACC_W+1) + ACC_W = its direction (1: >=, 0: <=).
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
    parameter int WB = 1,            // weight bits: 1 = +-1, 2..8 = signed codes
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
    // WB = 1: |acc - z|, |T - z| <= K 2^(W-1) + K + 1; WB > 1: |acc|, |T| <= K 2^(W-1) 2^(WB-1) + 1
    localparam int ACC_W = (WB == 1) ? $clog2(K * (1 << (W - 1)) + K + 2) + 1
                                     : $clog2(K * (1 << (W - 1)) * (1 << (WB - 1)) + 2) + 1;
    localparam int TW = ACC_W + 1;
    localparam int PCW = $clog2(SIMD + 1);                       // a bit plane's popcount
    localparam int NFB = (NF > 1) ? $clog2(NF) : 1;
    localparam int SFB = (SF > 1) ? $clog2(SF) : 1;
    localparam int AB = (NF * SF > 1) ? $clog2(NF * SF) : 1;

    logic [PE*SIMD*WB-1:0] wrom [0:NF*SF-1];
    logic [PE*TW-1:0]   trom [0:NF-1];
    initial begin
        $readmemh(W_FILE, wrom);
        $readmemh(T_FILE, trom);
    end

    // ---------------- input register and work register, both as W bit planes of K bits ----------------
    // plane k = bit k of every window element: a wiring of s_tdata, read only by the input register
    logic [W*K-1:0] s_planes, xbuf, work;
    genvar gk, gi;
    for (gk = 0; gk < W; gk++) begin : g_plane
        for (gi = 0; gi < K; gi++) begin : g_elem
            assign s_planes[gk*K + gi] = s_tdata[gi*W + gk];
        end
    end
    logic xbuf_valid;
    assign s_tready = !xbuf_valid;

    // ---------------- sequencing: fold counters, pipeline tags, output valid (shared with xnor_mvu) ----------
    logic [AB-1:0]  a0;
    logic [SFB-1:0] sf0;
    logic [NFB-1:0] nf1, nf2, nf3;
    logic en, load, f1, l1, v3, f3, l3, final3;
    mvu_control #(.NF(NF), .SF(SF)) u_control (
        .clk(clk), .rst_n(rst_n), .xbuf_full(xbuf_valid), .load(load), .en(en), .a0(a0), .sf0(sf0),
        .f1(f1), .l1(l1), .nf1(nf1), .nf2(nf2), .v3(v3), .f3(f3), .l3(l3), .nf3(nf3), .final3(final3),
        .m_tvalid(m_tvalid), .m_tready(m_tready));

    // ---------------- pipeline registers ----------------
    logic [PE*SIMD*WB-1:0] w1;
    logic [W*SIMD-1:0]    x1;     // the SIMD elements of this fold, W bit planes of SIMD bits
    logic [PE*W*PCW-1:0]  pc2;    // WB = 1: the bit planes' popcounts
    logic [PE*ACC_W-1:0]  dp2;    // WB > 1: the rows' dot products
    logic [PE*ACC_W-1:0]  ps3;
    logic [PE*TW-1:0]     t3;
    logic [PE*ACC_W-1:0]  acc;
    logic [CH-1:0]        pix;


    // stage 2, WB = 1: the popcounts of XNOR(plane_k, w) of each PE row (an XNOR is kept in a variable before
    // $countones: Icarus 11 miscounts $countones(~(a ^ b))); WB > 1: each row's sum of signed products
    logic [PE*W*PCW-1:0] pc;
    logic [PE*ACC_W-1:0] dp;
    always_comb begin
        logic [SIMD-1:0] xn;
        logic signed [W-1:0] xe;
        logic signed [WB-1:0] we;
        logic signed [ACC_W-1:0] d;
        pc = '0;
        dp = '0;
        for (int pe = 0; pe < PE; pe++)
            if (WB == 1) begin
                for (int k = 0; k < W; k++) begin
                    xn = ~(x1[k*SIMD +: SIMD] ^ w1[pe*SIMD +: SIMD]);
                    pc[(pe*W + k)*PCW +: PCW] = PCW'($countones(xn));
                end
            end else begin
                d = '0;
                for (int s = 0; s < SIMD; s++) begin
                    for (int k = 0; k < W; k++) xe[k] = x1[k*SIMD + s];
                    we = w1[(pe*SIMD + s)*WB +: WB];
                    d = d + xe * we;
                end
                dp[pe*ACC_W +: ACC_W] = d;
            end
    end

    // stage 3: sum_k c_k 2^k popcount_k (the sign plane negative); WB > 1: the dot products as they are
    logic [PE*ACC_W-1:0] psum;
    always_comb begin
        logic signed [ACC_W-1:0] s, c;
        if (WB > 1) psum = dp2;
        else for (int pe = 0; pe < PE; pe++) begin
            s = '0;
            for (int k = 0; k < W; k++) begin
                c = ACC_W'(pc2[(pe*W + k)*PCW +: PCW]) << k;
                s = (k == W - 1) ? s - c : s + c;
            end
            psum[pe*ACC_W +: ACC_W] = s;
        end
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
        if (s_tvalid && s_tready) xbuf <= s_planes;
        if (load) work <= xbuf;
        if (en) begin
            w1 <= wrom[a0];
            for (int k = 0; k < W; k++) x1[k*SIMD +: SIMD] <= work[k*K + sf0*SIMD +: SIMD];
            pc2 <= pc;
            dp2 <= dp;
            ps3 <= psum;
            t3 <= trom[nf2];
            if (v3) acc <= acc_new;
            if (v3 && l3) pix <= pix_next;
            if (final3) m_tdata <= pix_next;
        end
    end

    always_ff @(posedge clk) begin
        if (!rst_n) xbuf_valid <= 1'b0;
        else if (s_tvalid && s_tready) xbuf_valid <= 1'b1;
        else if (load) xbuf_valid <= 1'b0;
    end
endmodule
