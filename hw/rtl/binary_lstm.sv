// Binary bidirectional LSTM (issue 5): T frames of D bits in, T frames of 2H bits out, bit for bit the integer
// arithmetic of docs/numeric_spec.md ("Binary LSTM") and of bcrnn.reference.lstm.run_bilstm (the same thing as
// the HLS kernel hw/hls/binary_lstm.hpp), checked by sim/bench_binary_lstm.py:
//
//   d_t    = [x_t, h_t-1]                        N = D + H bits, h_0 = all ones, c_0 = 0
//   dot_r  = 2 popcount(XNOR(W_r, d_t)) - N      per gate row r (rows [i | f | g | o] x H in the reference)
//   acc_r  = M_r dot_r + B_r
//   p_r    = clamp((acc_r + 2^(K-1)) >>> K, -2^(Q-1), 2^(Q-1) - 1)
//   i,f,o  = SIGMOID[p + 2^(Q-1)]   g = TANH[p + 2^(Q-1)]
//   c      = sat_C(((f c + 2^(G-1)) >>> G) + ((i g + 2^(S-1)) >>> S)),   S = 2G - 1 - F
//   h bit  = (o == 0) || (c >= 0)
//
// Streams: a sequence is T input beats (beat t = x_t, bit j = input bit j), then, once both directions are done,
// T output beats (bits [0, H) = forward h_t, bits [H, 2H) = backward h_t). No tlast: beats are counted.
//
// Structure
//   * Input and output sequence buffers are ping-pong RAMs (2 T x D in, 2 x 2 T x H out): the next sequence
//     streams in while this one is computed, and the previous one streams out meanwhile.
//   * One folded XNOR-popcount datapath, PE gate rows x SIMD bits per cycle, shared by both directions: the
//     sequencer alternates forward step s and backward step s (each TILES = (4H / PE) ((D + H) / SIMD) cycles),
//     so one direction's pipeline drains while the other direction computes. A step of a direction starts only
//     when that direction's previous h_t is complete (h_ready).
//   * Gate rows are unit-major as in the HLS kernel (hardware row r = 4 j + gate, gates i, f, g, o; PE p handles
//     rows nf PE + p): the four gates of a unit leave the gate tables together (PE a multiple of 4: PE / 4 cell
//     lanes) or in 4 / PE consecutive row groups (PE = 1, 2: one cell lane behind a gate window).
//   * ROMs ($readmemh, written by bcrnn/rtl/lstm_files.py):
//       WEIGHT_FILE  2 TILES words of PE SIMD bits: word dir TILES + nf SF + sf, bits [p SIMD +: SIMD] = weights
//                    of hardware row nf PE + p for inputs sf SIMD + k (k = bit)
//       MULT_FILE    2 NF words of PE MW bits: word dir NF + nf, bits [p MW +: MW] = M of row nf PE + p
//       OFFSET_FILE  2 NF words of PE BW bits: the same for B
//       SIGMOID_FILE 2^Q words of G bits (unsigned), TANH_FILE 2^Q words of G bits (two's complement), both
//                    indexed p + 2^(Q-1)
//
// Pipeline (stage: register written at the end of the cycle)
//   a  sequencer (tile to issue)     b  x RAM read                    c  slice mux, weight ROM read
//   d  XNOR + popcount tree          e  row accumulation, M/B ROM     f  M dot
//   g  + B                           k  round, clamp: table index     r  gate tables (cell state read)
//   u  f c, i g                      commit: c' saturation, h bit, cell write, h_t complete
// A step's last tile issued in cycle X makes h_t usable by a tile issued in cycle X + STEP_DEPTH (10).
//
// Cycles (bcrnn.rtl.lstm_files.lstm_cycles_rtl / lstm_latency_rtl), with P2 = TILES + max(TILES, STEP_DEPTH - 1):
//   compute of one sequence        (T - 1) P2 + 2 TILES + 10   = the interval between back-to-back sequences
//   first input beat to last output beat of a lone sequence:   compute + 2 T + 1
// Small preset (D = 256, H = 64, T = 150) at PE = 16, SIMD = 64: 24,010 cycles per sequence (8,330 / s at 200 MHz).
// For >= 1,000 sequences / s at 200 MHz with few LUTs: PE = 4, SIMD = 64, 96,010 cycles (2,083 / s); Yosys
// synth_xilinx at the small preset: ~1.5 k LUT, ~0.6 k FF, 6 DSP48, 15 RAMB18 (weights) + 6 RAMB36 (buffers).

`resetall
`timescale 1ns / 1ps
`default_nettype none

module binary_lstm #(
    parameter integer D = 16,            // input bits per frame
    parameter integer H = 8,             // hidden units per direction
    parameter integer T = 150,           // frames per sequence
    parameter integer PE = 4,            // gate rows per cycle: divides 4 H; 1, 2 or a multiple of 4
    parameter integer SIMD = 8,          // input bits per cycle: divides D + H
    parameter integer MW = 16,           // bits of the per-row multipliers M (two's complement)
    parameter integer BW = 16,           // bits of the per-row offsets B (two's complement)
    parameter integer P = 4,             // LSTMFormat.pre_frac (only the tables depend on it)
    parameter integer Q = 8,             // LSTMFormat.pre_bits: pre-activation code bits, tables of 2^Q entries
    parameter integer K = 8,             // LSTMFormat.scale_frac: right shift of M dot + B
    parameter integer G = 8,             // LSTMFormat.gate_bits
    parameter integer C = 16,            // LSTMFormat.cell_bits: saturating cell state
    parameter integer F = 10,            // LSTMFormat.cell_frac
    parameter WEIGHT_FILE = "lstm_weights.memh",
    parameter MULT_FILE = "lstm_mult.memh",
    parameter OFFSET_FILE = "lstm_offset.memh",
    parameter SIGMOID_FILE = "lstm_sigmoid.memh",
    parameter TANH_FILE = "lstm_tanh.memh"
) (
    input  wire            clk,
    input  wire            rst_n,       // synchronous, active low

    input  wire [D-1:0]    s_tdata,     // x_t, bit j = input bit j
    input  wire            s_tvalid,
    output wire            s_tready,

    output wire [2*H-1:0]  m_tdata,     // [0, H) forward h_t, [H, 2H) backward h_t
    output wire            m_tvalid,
    input  wire            m_tready
);

    // ------------------------------------------------------------------------------------------- sizes
    localparam integer N = D + H;                       // bits of d_t
    localparam integer NF = 4 * H / PE;                 // row groups (neuron fold)
    localparam integer SF = N / SIMD;                   // input slices (synapse fold)
    localparam integer TILES = NF * SF;                 // cycles per step
    localparam integer U = PE >= 4 ? PE / 4 : 1;        // cell lanes
    localparam integer SLOTS = H / U;                   // cell-state words per lane and direction
    localparam integer S = 2 * G - 1 - F;               // shift of i g to the cell scale
    localparam integer TW = T > 1 ? $clog2(T) : 1;
    localparam integer NFW = NF > 1 ? $clog2(NF) : 1;
    localparam integer SFW = SF > 1 ? $clog2(SF) : 1;
    localparam integer TLW = TILES > 1 ? $clog2(TILES) : 1;
    localparam integer SLW = SLOTS > 1 ? $clog2(SLOTS) : 1;
    localparam integer POPW = $clog2(N + 1);            // popcount 0 .. N
    localparam integer DOTW = POPW + 2;                 // dot in [-N, N] (signed, from 2 popcount)
    localparam integer PW = MW + DOTW;                  // M dot
    localparam integer ACCW = (PW > BW ? PW : BW) + 1;  // M dot + B
    localparam integer RW0 = ACCW > K + 1 ? ACCW : K + 1;
    localparam integer RW = (RW0 > Q + 1 ? RW0 : Q + 1) + 1;  // acc + 2^(K-1), and the clamp bounds
    localparam integer GW = G + 1;                      // a gate: unsigned G bits (sigmoid) or signed G bits (tanh)
    localparam integer FCW = GW + C + 1;                // f c + 2^(G-1)
    localparam integer IGW = 2 * GW + 1;                // i g + 2^(S-1)
    localparam integer SUMW = (FCW - G > IGW - S ? FCW - G : IGW - S) + 1;
    localparam integer STEP_DEPTH = 10;                 // see the header (documentation; the pipeline sets it)

    localparam [TW-1:0] T_LAST = T - 1;
    localparam signed [DOTW-1:0] N_DOT = N;
    localparam signed [RW-1:0] RND_K = {{(RW - 1){1'b0}}, 1'b1} << (K - 1);
    localparam signed [RW-1:0] CODE_LO = -(2 ** (Q - 1));
    localparam signed [RW-1:0] CODE_HI = 2 ** (Q - 1) - 1;
    localparam signed [FCW-1:0] RND_G = {{(FCW - 1){1'b0}}, 1'b1} << (G - 1);
    localparam signed [IGW-1:0] RND_S = {{(IGW - 1){1'b0}}, 1'b1} << (S - 1);
    localparam signed [SUMW-1:0] CELL_LO = -(2 ** (C - 1));
    localparam signed [SUMW-1:0] CELL_HI = 2 ** (C - 1) - 1;

    // tags that follow a tile down the pipeline
    localparam integer TG_SEQ = 0;                      // last tile of the sequence (backward step T - 1)
    localparam integer TG_STEP = 1;                     // last tile of a step
    localparam integer TG_FIRST = 2;                    // step 0 of a direction: c_t-1 = 0
    localparam integer TG_NF = 3;                       // row group
    localparam integer TG_FRAME = TG_NF + NFW;          // frame t of the step
    localparam integer TG_DIR = TG_FRAME + TW;          // 0 forward, 1 backward
    localparam integer TAGW = TG_DIR + 1;

    initial begin
        if (D < 1 || H < 1 || T < 1)
            $fatal(1, "binary_lstm: D=%0d, H=%0d, T=%0d must be positive", D, H, T);
        if (PE < 1 || (4 * H) % PE != 0 || (PE > 2 && PE % 4 != 0))
            $fatal(1, "binary_lstm: PE=%0d must divide 4*H=%0d and be 1, 2 or a multiple of 4", PE, 4 * H);
        if (SIMD < 1 || N % SIMD != 0)
            $fatal(1, "binary_lstm: SIMD=%0d must divide D+H=%0d", SIMD, N);
        if (Q < 2 || K < 1 || G < 2 || C < 2 || F < 1 || F >= 2 * G - 1 || MW < 1 || BW < 1)
            $fatal(1, "binary_lstm: bad format Q=%0d K=%0d G=%0d C=%0d F=%0d MW=%0d BW=%0d", Q, K, G, C, F, MW, BW);
    end

    // ------------------------------------------------------------------------------------------- ROMs
    (* rom_style = "block" *) logic [PE*SIMD-1:0] weight_rom [0:2*TILES-1];
    logic [PE*MW-1:0] mult_rom [0:2*NF-1];
    logic [PE*BW-1:0] offset_rom [0:2*NF-1];
    logic [G-1:0] sigmoid_rom [0:(1<<Q)-1];
    logic [G-1:0] tanh_rom [0:(1<<Q)-1];
    initial begin
        $readmemh(WEIGHT_FILE, weight_rom);
        $readmemh(MULT_FILE, mult_rom);
        $readmemh(OFFSET_FILE, offset_rom);
        $readmemh(SIGMOID_FILE, sigmoid_rom);
        $readmemh(TANH_FILE, tanh_rom);
    end

    // ------------------------------------------------------------------------------------------- buffers
    // in_full / out_full: full buffers (0..2); the writer fills in_wbuf, the datapath reads in_rbuf and writes
    // out_wbuf, the reader streams out_rbuf.
    logic [1:0] in_full, out_full;
    logic in_wbuf, in_rbuf, out_wbuf, out_rbuf;
    logic [TW-1:0] in_t, rd_t;
    logic busy, run;                                    // a sequence in the datapath; tiles left to issue
    logic seq_done;                                     // its last h_t is committed (end of this cycle)
    logic rd_release;                                   // the last output frame leaves out_rbuf

    assign s_tready = in_full != 2'd2;
    wire in_beat = s_tvalid && s_tready;
    wire in_push = in_beat && in_t == T_LAST;
    wire start = !busy && in_full != 2'd0 && out_full != 2'd2;

    logic [D-1:0] x_ram [0:2*T-1];
    always_ff @(posedge clk) begin
        if (in_beat) x_ram[in_wbuf ? in_t + T : in_t] <= s_tdata;
    end

    always_ff @(posedge clk) begin
        if (!rst_n) begin
            in_full <= 2'd0;
            in_wbuf <= 1'b0;
            in_rbuf <= 1'b0;
            in_t <= '0;
            out_full <= 2'd0;
            out_wbuf <= 1'b0;
            out_rbuf <= 1'b0;
        end else begin
            if (in_beat) begin
                in_t <= in_push ? '0 : in_t + 1'b1;
                if (in_push) in_wbuf <= !in_wbuf;
            end
            in_full <= in_full + {1'b0, in_push} - {1'b0, seq_done};
            if (seq_done) begin
                in_rbuf <= !in_rbuf;
                out_wbuf <= !out_wbuf;
            end
            out_full <= out_full + {1'b0, seq_done} - {1'b0, rd_release};
            if (rd_release) out_rbuf <= !out_rbuf;
        end
    end

    // ------------------------------------------------------------------------------------------- sequencer (a)
    // Order: forward step 0, backward step 0, forward step 1, ...; within a step row groups nf, within a group
    // input slices sf (the tile index nf SF + sf).
    logic sq_dir;
    logic [TW-1:0] sq_s;
    logic [TLW-1:0] sq_tile;
    logic [NFW-1:0] sq_nf;
    logic [SFW-1:0] sq_sf;
    logic [1:0] h_ready;                                // h_prev of the direction is complete
    logic [2*H-1:0] h_prev;                             // h_t-1 of forward [0, H) and backward [H, 2H)
    logic step_commit;                                  // a step's h_t is complete (end of this cycle)
    logic u_dir;
    logic [H-1:0] h_full;

    wire step_start = sq_tile == '0;
    wire issue = run && (!step_start || h_ready[sq_dir]);
    wire [TW-1:0] sq_frame = sq_dir ? T_LAST - sq_s : sq_s;
    wire sq_step_end = sq_tile == TILES - 1;

    always_ff @(posedge clk) begin
        if (!rst_n) begin
            busy <= 1'b0;
            run <= 1'b0;
            h_ready <= 2'b00;
            sq_dir <= 1'b0;
            sq_s <= '0;
            sq_tile <= '0;
            sq_nf <= '0;
            sq_sf <= '0;
        end else if (start) begin
            busy <= 1'b1;
            run <= 1'b1;
            h_ready <= 2'b11;
            sq_dir <= 1'b0;
            sq_s <= '0;
            sq_tile <= '0;
            sq_nf <= '0;
            sq_sf <= '0;
        end else begin
            if (issue) begin
                if (sq_sf == SF - 1) begin
                    sq_sf <= '0;
                    sq_nf <= sq_nf == NF - 1 ? '0 : sq_nf + 1'b1;
                end else begin
                    sq_sf <= sq_sf + 1'b1;
                end
                if (sq_step_end) begin
                    sq_tile <= '0;
                    sq_dir <= !sq_dir;
                    if (sq_dir) begin
                        if (sq_s == T_LAST) run <= 1'b0;
                        else sq_s <= sq_s + 1'b1;
                    end
                end else begin
                    sq_tile <= sq_tile + 1'b1;
                end
                if (step_start) h_ready[sq_dir] <= 1'b0;
            end
            if (step_commit) h_ready[u_dir] <= 1'b1;
            if (seq_done) busy <= 1'b0;
        end
    end

    always_ff @(posedge clk) begin
        if (start) h_prev <= '1;                        // sign(h_0 = 0) = +1
        else if (step_commit) h_prev[u_dir*H +: H] <= h_full;
    end

    // ------------------------------------------------------------------------------------------- b: x RAM
    logic b_valid, b_first_sf, b_last_sf;
    logic [SFW-1:0] b_sf;
    logic [TAGW-1:0] b_tag;
    logic [TLW:0] b_waddr;                              // weight word dir TILES + tile
    logic [D-1:0] xq;

    always_ff @(posedge clk) begin
        xq <= x_ram[in_rbuf ? sq_frame + T : sq_frame];
        b_waddr <= sq_dir ? sq_tile + TILES : sq_tile;
        b_sf <= sq_sf;
        b_first_sf <= sq_sf == '0;
        b_last_sf <= sq_sf == SF - 1;
        b_tag <= {sq_dir, sq_frame, sq_nf, sq_s == '0, sq_step_end, sq_dir && sq_s == T_LAST && sq_step_end};
    end

    // ------------------------------------------------------------------------------------------- c: slice, weights
    wire b_dir = b_tag[TG_DIR];
    wire [N-1:0] d_vec = {h_prev[b_dir*H +: H], xq};   // [x_t, h_t-1]

    logic c_valid, c_first_sf, c_last_sf;
    logic [TAGW-1:0] c_tag;
    logic [SIMD-1:0] c_slice;                           // inputs [sf SIMD, (sf + 1) SIMD)
    logic [PE*SIMD-1:0] c_w;                            // their weights in the PE rows
    always_ff @(posedge clk) begin
        c_slice <= d_vec[b_sf*SIMD +: SIMD];
        c_w <= weight_rom[b_waddr];
        c_first_sf <= b_first_sf;
        c_last_sf <= b_last_sf;
        c_tag <= b_tag;
    end

    // ------------------------------------------------------------------------------------------- d: popcount
    logic d_valid, d_first_sf, d_last_sf;
    logic [TAGW-1:0] d_tag;
    wire [PE*POPW-1:0] d_part;                          // popcount(XNOR) of row nf PE + p at [p POPW +: POPW]
    always_ff @(posedge clk) begin
        d_first_sf <= c_first_sf;
        d_last_sf <= c_last_sf;
        d_tag <= c_tag;
    end

    genvar p;
    generate
        for (p = 0; p < PE; p = p + 1) begin : pc
            // a named XNOR: Icarus 11 counts the ones of $countones(~(a ^ b)) at a wider width
            wire [SIMD-1:0] match = ~(c_w[p*SIMD +: SIMD] ^ c_slice);
            logic [POPW-1:0] part;
            always_ff @(posedge clk) part <= $countones(match);  // an adder tree in synthesis
            assign d_part[p*POPW +: POPW] = part;
        end
    endgenerate

    // ------------------------------------------------------------------------------------------- e: accumulate
    logic e_valid;                                      // a row group is complete
    logic [TAGW-1:0] e_tag;
    logic [PE*POPW-1:0] e_pop;
    logic [PE*MW-1:0] e_m;
    logic [PE*BW-1:0] e_b;
    wire d_dir = d_tag[TG_DIR];
    wire [NFW-1:0] d_nf = d_tag[TG_NF +: NFW];
    always_ff @(posedge clk) begin
        if (d_valid)
            for (int q = 0; q < PE; q++)
                e_pop[q*POPW +: POPW] <= (d_first_sf ? {POPW{1'b0}} : e_pop[q*POPW +: POPW]) + d_part[q*POPW +: POPW];
        e_m <= mult_rom[d_dir ? d_nf + NF : d_nf];
        e_b <= offset_rom[d_dir ? d_nf + NF : d_nf];
        e_tag <= d_tag;
    end

    // ------------------------------------------------------------------------------------------- f, g, k, r: rows
    logic f_valid, g_valid, k_valid, r_valid;
    logic [TAGW-1:0] f_tag, g_tag, k_tag, r_tag;
    wire [PE*GW-1:0] r_gate;                            // gates of this row group, row nf PE + p at [p GW +: GW]
    wire [NFW-1:0] k_nf = k_tag[TG_NF +: NFW];
    always_ff @(posedge clk) begin
        f_tag <= e_tag;
        g_tag <= f_tag;
        k_tag <= g_tag;
        r_tag <= k_tag;
    end

    generate
        for (p = 0; p < PE; p = p + 1) begin : row
            wire signed [DOTW-1:0] dot = $signed({1'b0, e_pop[p*POPW +: POPW], 1'b0}) - N_DOT;
            logic signed [PW-1:0] f_prod;
            logic signed [BW-1:0] f_b;
            logic signed [ACCW-1:0] g_acc;
            logic [Q-1:0] k_idx;                        // p_r + 2^(Q-1)
            logic signed [GW-1:0] r_g;
            wire signed [RW-1:0] rounded = (g_acc + RND_K) >>> K;   // floor((acc + 2^(K-1)) / 2^K)
            wire [G-1:0] sig = sigmoid_rom[k_idx];
            wire [G-1:0] th = tanh_rom[k_idx];
            // the g gate (hardware row 4 j + 2) goes through TANH, i, f, o through SIGMOID
            wire is_tanh = ((k_nf % 4) * (PE % 4) + p) % 4 == 2;
            always_ff @(posedge clk) begin
                f_prod <= $signed(e_m[p*MW +: MW]) * dot;
                f_b <= $signed(e_b[p*BW +: BW]);
                g_acc <= f_prod + f_b;
                if (rounded < CODE_LO) k_idx <= {Q{1'b0}};
                else if (rounded > CODE_HI) k_idx <= {Q{1'b1}};
                else k_idx <= {~rounded[Q-1], rounded[Q-2:0]};
                r_g <= is_tanh ? $signed({th[G-1], th}) : $signed({1'b0, sig});
            end
            assign r_gate[p*GW +: GW] = r_g;
        end
    endgenerate

    // ------------------------------------------------------------------------------------------- r: units
    // win: the last 4 U gate rows, oldest first; a unit is complete when its o row (4 j + 3) arrived.
    wire [NFW-1:0] r_nf = r_tag[TG_NF +: NFW];
    wire [4*U*GW-1:0] win;
    wire r_unit;
    wire [SLW-1:0] r_slot;
    generate
        if (PE >= 4) begin : wide
            assign win = r_gate;
            assign r_unit = r_valid;
            assign r_slot = r_nf;
        end else begin : narrow
            logic [(4-PE)*GW-1:0] w_prev;
            assign win = {r_gate, w_prev};
            always_ff @(posedge clk) if (r_valid) w_prev <= win[PE*GW +: (4-PE)*GW];
            assign r_unit = r_valid && (((r_nf % 4) * PE + PE) % 4 == 0);
            assign r_slot = (r_nf * PE) >> 2;
        end
    endgenerate

    // ------------------------------------------------------------------------------------------- u: cell
    logic u_valid, u_step_end, u_seq_end;
    logic [TW-1:0] u_frame;
    logic [SLW-1:0] u_slot;
    wire [U-1:0] u_hbit;
    always_ff @(posedge clk) begin
        u_dir <= r_tag[TG_DIR];
        u_frame <= r_tag[TG_FRAME +: TW];
        u_slot <= r_slot;
        u_step_end <= r_tag[TG_STEP];
        u_seq_end <= r_tag[TG_SEQ];
    end

    generate
        for (p = 0; p < U; p = p + 1) begin : lane
            wire signed [GW-1:0] gi = win[(4*p+0)*GW +: GW];
            wire signed [GW-1:0] gf = win[(4*p+1)*GW +: GW];
            wire signed [GW-1:0] gg = win[(4*p+2)*GW +: GW];
            wire signed [GW-1:0] go = win[(4*p+3)*GW +: GW];
            logic signed [C-1:0] mem [0:2*SLOTS-1];     // c of unit slot U + p, direction-major
            wire signed [C-1:0] c_old = r_tag[TG_FIRST] ? {C{1'b0}} : mem[r_tag[TG_DIR] ? r_slot + SLOTS : r_slot];
            logic signed [GW+C-1:0] u_fc;
            logic signed [2*GW-1:0] u_ig;
            logic u_oz;
            always_ff @(posedge clk) begin
                u_fc <= gf * c_old;
                u_ig <= gi * gg;
                u_oz <= go == 0;
            end
            wire signed [FCW-1:0] fc = (u_fc + RND_G) >>> G;
            wire signed [IGW-1:0] ig = (u_ig + RND_S) >>> S;
            wire signed [SUMW-1:0] sum = fc + ig;
            wire signed [C-1:0] c_new = sum < CELL_LO ? CELL_LO[C-1:0] : sum > CELL_HI ? CELL_HI[C-1:0] : sum[C-1:0];
            always_ff @(posedge clk) begin
                if (u_valid) mem[u_dir ? u_slot + SLOTS : u_slot] <= c_new;
            end
            assign u_hbit[p] = u_oz || !c_new[C-1];
        end
    endgenerate

    // h_t: units complete in order within a step (slot 0, 1, ...; the other direction never interleaves), so a
    // shift register gathers them; the step's last unit completes h_t.
    generate
        if (SLOTS > 1) begin : hsr
            logic [H-U-1:0] bits;
            always_ff @(posedge clk) if (u_valid) bits <= h_full[H-1:U];
            assign h_full = {u_hbit, bits};
        end else begin : hall
            assign h_full = u_hbit;
        end
    endgenerate

    assign step_commit = u_valid && u_step_end;
    assign seq_done = step_commit && u_seq_end;

    // valid bits (reset)
    always_ff @(posedge clk) begin
        if (!rst_n) begin
            b_valid <= 1'b0;
            c_valid <= 1'b0;
            d_valid <= 1'b0;
            e_valid <= 1'b0;
            f_valid <= 1'b0;
            g_valid <= 1'b0;
            k_valid <= 1'b0;
            r_valid <= 1'b0;
            u_valid <= 1'b0;
        end else begin
            b_valid <= issue;
            c_valid <= b_valid;
            d_valid <= c_valid;
            e_valid <= d_valid && d_last_sf;
            f_valid <= e_valid;
            g_valid <= f_valid;
            k_valid <= g_valid;
            r_valid <= k_valid;
            u_valid <= r_unit;
        end
    end

    // ------------------------------------------------------------------------------------------- output
    logic [H-1:0] fwd_ram [0:2*T-1];
    logic [H-1:0] bwd_ram [0:2*T-1];
    logic [H-1:0] oq_f, oq_b;
    logic oq_valid;
    wire rd_en = !oq_valid || m_tready;
    wire rd_have = out_full != 2'd0;
    wire [TW:0] out_waddr = out_wbuf ? u_frame + T : u_frame;
    wire [TW:0] out_raddr = out_rbuf ? rd_t + T : rd_t;
    assign rd_release = rd_en && rd_have && rd_t == T_LAST;

    always_ff @(posedge clk) begin
        if (step_commit && !u_dir) fwd_ram[out_waddr] <= h_full;
        if (rd_en) oq_f <= fwd_ram[out_raddr];
    end
    always_ff @(posedge clk) begin
        if (step_commit && u_dir) bwd_ram[out_waddr] <= h_full;
        if (rd_en) oq_b <= bwd_ram[out_raddr];
    end
    always_ff @(posedge clk) begin
        if (!rst_n) begin
            oq_valid <= 1'b0;
            rd_t <= '0;
        end else if (rd_en) begin
            oq_valid <= rd_have;
            if (rd_have) rd_t <= rd_t == T_LAST ? '0 : rd_t + 1'b1;
        end
    end
    assign m_tdata = {oq_b, oq_f};
    assign m_tvalid = oq_valid;

endmodule

`resetall
