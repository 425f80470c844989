`resetall
`timescale 1ns / 1ps
`default_nettype none

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
//   stage (the stage that holds the XNOR bits for WB = 1, so the pipeline and its cycles are the same); the
//   threshold ROM holds T_o itself (no z).
// Folding: PE output channels in parallel, SIMD window elements per cycle: NF = CH/PE channel folds x
//   SF = K/SIMD element folds = NF*SF cycles per window (PE | CH, SIMD | K).
// Pipeline (registers; mvu_control sequences it with DEPTH = 7), each stage one short carry chain, popcount or
//   gate level: 1 the weight ROM word and the fold's inputs, 2 both once more (a ROM in block RAM has a slow
//   clock-to-out), 3 the XNOR bits of every row and bit plane (the one stage whose inputs fan out across the whole
//   array: a weight bit to W planes, an input bit to PE rows), 4 each plane's XNOR bits popcounted in groups of GS,
//   5 the groups summed (a plane's popcount), 6 planes summed in pairs with their weights (c_k 2^k), 7 the pairs
//   summed (the tile's sum), then the accumulator (the threshold ROM word meets it registered four times), then
//   the threshold compare, whose bits shift into the output pixel (PE at a time, fold 0 first). The pipeline never
//   stalls: mvu_control lets a window into the work register only when the output registers can hold every pixel
//   in flight.
//
// ROMs ($readmemh, written by bcrnn.rtl.frontend_files.write_conv0_files):
//   W_FILE: NF*SF words of PE*SIMD*WB bits; word nf*SF + sf, bits (pe*SIMD + s)*WB +: WB = weight of channel
//           nf*PE + pe, window element sf*SIMD + s (WB = 1: the bit, 1 = +1; WB > 1: the two's complement code).
//   T_FILE: NF words of PE*(ACC_W+1) bits; word nf, bits [pe*(ACC_W+1) +: ACC_W] = T - z (WB = 1) or T (WB > 1)
//           of channel o = nf*PE + pe (two's complement), bit pe*(ACC_W+1) + ACC_W = its direction (1: >=, 0: <=).
//
// Cycles: a window every max(NF*SF, 2) cycles in steady state (a window waits in the input register while the
//   engine works on the previous one from its work register); with an idle engine, the pixel of a window accepted
//   in cycle a is taken in cycle a + NF*SF + 10 (1 to load, NF*SF folds, 9 pipeline stages incl. the output).
module mvu_int8 #(
    parameter int K = 45,            // window elements
    parameter int W = 8,             // bits of an element (signed)
    parameter int CH = 64,           // output channels
    parameter int PE = 8,            // channels per cycle
    parameter int SIMD = 45,         // window elements per cycle
    parameter int WB = 1,            // weight bits: 1 = +-1, 2..8 = signed codes
    parameter int GS = 16,           // popcount group (pipeline cut inside a bit plane's popcount)
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
    localparam int G = (SIMD + GS - 1) / GS;                     // popcount groups of a bit plane
    localparam int GW = $clog2(GS + 1);                          // a group's popcount
    localparam int PCW = $clog2(SIMD + 1);                       // a bit plane's popcount
    localparam int NPR = (W + 1) / 2;                            // plane pairs (2j, 2j+1)
    localparam int PRW = $clog2(3 * SIMD + 1) + 1;               // a pair's weighted sum, signed
    localparam int NFB = (NF > 1) ? $clog2(NF) : 1;
    localparam int SFB = (SF > 1) ? $clog2(SF) : 1;
    localparam int AB = (NF * SF > 1) ? $clog2(NF * SF) : 1;
    localparam int DEPTH = 7;

    initial if (PE < 1 || SIMD < 1 || CH % PE != 0 || K % SIMD != 0 || W < 2 || WB < 1 || WB > 8 || GS < 1)
        $fatal(1, "mvu_int8: need PE | CH, SIMD | K, W >= 2, 1 <= WB <= 8, GS >= 1 (CH=%0d PE=%0d K=%0d SIMD=%0d)",
               CH, PE, K, SIMD);

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

    // ---------------- sequencing: fold counters, pipeline tags, output registers (shared with xnor_mvu) ---------
    logic [AB-1:0]  a0;
    logic [SFB-1:0] sf0;
    logic [NFB-1:0] nft;
    logic load, va, fa, vc, final_c;
    logic [CH-1:0] pix_next;
    mvu_control #(.NF(NF), .SF(SF), .DEPTH(DEPTH), .PERIOD((NF * SF > 2) ? NF * SF : 2), .OW(CH)) u_control (
        .clk(clk), .rst_n(rst_n), .xbuf_full(xbuf_valid), .load(load), .a0(a0), .sf0(sf0), .nft(nft),
        .va(va), .fa(fa), .vc(vc), .final_c(final_c), .beat(pix_next),
        .m_tdata(m_tdata), .m_tvalid(m_tvalid), .m_tready(m_tready));

    // ---------------- pipeline registers (the number is the stage) ----------------
    logic [PE*SIMD*WB-1:0]  w1, w2;
    logic [W*SIMD-1:0]      x1, x2;     // the SIMD elements of this fold, W bit planes of SIMD bits
    logic [PE*W*SIMD-1:0]   xn3;        // WB = 1: XNOR(plane_k, w) of row pe at [(pe*W + k)*SIMD +: SIMD]
    logic [PE*W*G*GW-1:0]   gp4;        // WB = 1: group popcounts
    logic [PE*W*PCW-1:0]    pc5;        // WB = 1: bit-plane popcounts
    logic [PE*NPR*PRW-1:0]  pr6;        // WB = 1: weighted plane pairs
    logic [PE*ACC_W-1:0]    dp3, dp4, dp5, dp6;   // WB > 1: the rows' dot products
    logic [PE*ACC_W-1:0]    ps7;        // the tile's sum per row
    logic [PE*TW-1:0]       t5, t6, t7, t8;   // thresholds and directions
    logic [PE*ACC_W-1:0]    acc;
    logic [CH-1:0]          pix;        // output bits so far, shifted in PE at a time

    // stage 3, WB = 1: XNOR(plane_k, w) of each PE row; WB > 1: each row's sum of signed products
    logic [PE*W*SIMD-1:0] xn;
    logic [PE*ACC_W-1:0] dp;
    always_comb begin
        logic signed [W-1:0] xe;
        logic signed [WB-1:0] we;
        logic signed [ACC_W-1:0] d;
        xn = '0;
        dp = '0;
        for (int pe = 0; pe < PE; pe++)
            if (WB == 1) begin
                for (int k = 0; k < W; k++)
                    xn[(pe*W + k)*SIMD +: SIMD] = ~(x2[k*SIMD +: SIMD] ^ w2[pe*SIMD +: SIMD]);
            end else begin
                d = '0;
                for (int s = 0; s < SIMD; s++) begin
                    for (int k = 0; k < W; k++) xe[k] = x2[k*SIMD + s];
                    we = w2[(pe*SIMD + s)*WB +: WB];
                    d = d + xe * we;
                end
                dp[pe*ACC_W +: ACC_W] = d;
            end
    end

    // stage 4: each row's and plane's XNOR bits popcounted in groups of GS (a group is kept in a variable before
    // $countones)
    logic [PE*W*G*GW-1:0] gp;
    always_comb begin
        logic [G*GS-1:0] xv;         // zero-padded to whole groups
        logic [GS-1:0] grp;
        for (int r = 0; r < PE*W; r++) begin
            xv = '0;
            xv[SIMD-1:0] = xn3[r*SIMD +: SIMD];
            for (int g = 0; g < G; g++) begin
                grp = xv[g*GS +: GS];
                gp[(r*G + g)*GW +: GW] = GW'($countones(grp));
            end
        end
    end

    // stage 5: a bit plane's popcount = the sum of its groups
    logic [PE*W*PCW-1:0] pc;
    always_comb begin
        logic [PCW-1:0] s;
        for (int r = 0; r < PE*W; r++) begin
            s = '0;
            for (int g = 0; g < G; g++) s = s + PCW'(gp4[(r*G + g)*GW +: GW]);
            pc[r*PCW +: PCW] = s;
        end
    end

    // stage 6: pair j = c_2j popcount_2j + 2 c_2j+1 popcount_2j+1 (c = -1 for the sign plane W-1, else +1)
    logic [PE*NPR*PRW-1:0] pr;
    always_comb begin
        logic signed [PRW-1:0] lo, hi;
        for (int pe = 0; pe < PE; pe++)
            for (int j = 0; j < NPR; j++) begin
                lo = PRW'(pc5[(pe*W + 2*j)*PCW +: PCW]);
                if (2*j == W - 1) lo = -lo;
                hi = '0;
                if (2*j + 1 < W) hi = PRW'(pc5[(pe*W + 2*j + 1)*PCW +: PCW]);
                if (2*j + 1 == W - 1) hi = -hi;
                pr[(pe*NPR + j)*PRW +: PRW] = lo + (hi <<< 1);
            end
    end

    // stage 7: the tile's sum = sum_j 4^j pair_j (WB > 1: the dot products as they are)
    logic [PE*ACC_W-1:0] psum;
    always_comb begin
        logic signed [PRW-1:0] p;
        logic signed [ACC_W-1:0] e, s;
        if (WB > 1) psum = dp6;
        else for (int pe = 0; pe < PE; pe++) begin
            s = '0;
            for (int j = 0; j < NPR; j++) begin
                p = pr6[(pe*NPR + j)*PRW +: PRW];
                e = p;                              // sign-extended
                s = s + (e <<< (2*j));
            end
            psum[pe*ACC_W +: ACC_W] = s;
        end
    end

    // accumulate
    logic [PE*ACC_W-1:0] acc_new;
    always_comb begin
        logic signed [ACC_W-1:0] a;
        for (int pe = 0; pe < PE; pe++) begin
            a = (fa ? '0 : acc[pe*ACC_W +: ACC_W]) + ps7[pe*ACC_W +: ACC_W];
            acc_new[pe*ACC_W +: ACC_W] = a;
        end
    end

    // threshold the finished row fold; its bits shift in at the top of the pixel (fold nf ends at nf*PE)
    logic [PE-1:0] bits;
    always_comb begin
        logic signed [ACC_W-1:0] a, th;
        for (int pe = 0; pe < PE; pe++) begin
            a = acc[pe*ACC_W +: ACC_W];
            th = t8[pe*TW +: ACC_W];
            bits[pe] = t8[pe*TW + ACC_W] ? (a >= th) : (a <= th);
        end
        pix_next = (pix >> PE) | (CH'(bits) << (CH - PE));
    end

    always_ff @(posedge clk) begin
        if (s_tvalid && s_tready) xbuf <= s_planes;
        if (load) work <= xbuf;
        w1 <= wrom[a0];
        for (int k = 0; k < W; k++) x1[k*SIMD +: SIMD] <= work[k*K + sf0*SIMD +: SIMD];
        w2 <= w1;
        x2 <= x1;
        xn3 <= xn;
        dp3 <= dp;
        gp4 <= gp;
        dp4 <= dp3;
        pc5 <= pc;
        dp5 <= dp4;
        pr6 <= pr;
        dp6 <= dp5;
        ps7 <= psum;
        t5 <= trom[nft];
        t6 <= t5;
        t7 <= t6;
        t8 <= t7;
        if (va) acc <= acc_new;
        if (vc) pix <= pix_next;
    end

    always_ff @(posedge clk) begin
        if (!rst_n) xbuf_valid <= 1'b0;
        else if (s_tvalid && s_tready) xbuf_valid <= 1'b1;
        else if (load) xbuf_valid <= 1'b0;
    end
endmodule

`resetall
