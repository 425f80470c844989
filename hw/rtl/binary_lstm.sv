// Binary bidirectional LSTM: T frames of D bits in, T frames of 2H bits out, bit for bit the integer arithmetic of
// docs/numeric_spec.md ("Binary LSTM") and of bcrnn.reference.lstm.run_bilstm (the same thing as the HLS kernel
// hw/hls/binary_lstm.hpp), checked by sim/bench_binary_lstm.py:
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
//                    indexed p + 2^(Q-1); every gate row has its own copy in logic
//
// Pipeline (stage: register written at the end of the cycle), cut for 125 MHz on an ECP5 (speed 6): block RAM
// outputs (a slow clock-to-out) pass plain registers before any logic; the popcount takes three stages; the
// multipliers are LUT adder trees in three stages (binary_lstm_mul: no MULT18X18D, whose fixed sites leave long
// routes); the table lookup reads the unclamped index (four sub-tables) while the range is checked, and a mux
// picks; the output stream's ready moves only the output FIFO.
//   a  sequencer: tile to issue, its x word and weight word
//   b  x RAM, weight ROM read         c, s  registered             t  slice of d_t; weights registered again
//   d  XNOR, popcounts of 4 bits      p  sums of 4 groups          q  row popcount of the slice
//   e  dot accumulation, M/B ROM      m1 .. m3  M dot              g  M dot + B + 2^(K-1)
//   k  four sub-table lookups, range check                         r  gate, cell state read
//   u1 .. u3  f c, i g                v  rounding shifts           w  sum, saturation, h bit
//   commit: cell write, h_t complete
// A step's last tile issued in cycle X makes h_t usable by a tile issued in cycle X + STEP_DEPTH (20).
//
// Cycles (bcrnn.rtl.lstm_files.lstm_cycles_rtl / lstm_latency_rtl), with P2 = TILES + max(TILES, STEP_DEPTH - 1):
//   compute of one sequence        (T - 1) P2 + 2 TILES + 20   = the interval between back-to-back sequences
//   first input beat to last output beat of a lone sequence:   T WF + compute + T + 7,  WF = ceil(D / SIMD)
//   (an input beat takes WF cycles: T WF <= compute keeps the input off the critical path)
// Small preset (D = 256, H = 64, T = 150) at PE = 16, SIMD = 64: 24,020 cycles per sequence (8,326 / s at 200 MHz).
// Wide preset (D = 768, H = 128) at PE = 32, SIMD = 64 (hw/rtl/folding/ecp5-wide.yaml): 67,220 cycles.

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
    localparam integer WF = (D + SIMD - 1) / SIMD;      // x RAM words per frame
    localparam integer WFW = $clog2(WF + 1);
    localparam integer XAW = $clog2(2 * T * WF);        // x RAM word address
    localparam integer TW = T > 1 ? $clog2(T) : 1;
    localparam integer NFW = NF > 1 ? $clog2(NF) : 1;
    localparam integer MBW = $clog2(2 * NF);            // M / B ROM word
    localparam integer SFW = SF > 1 ? $clog2(SF) : 1;
    localparam integer TLW = TILES > 1 ? $clog2(TILES) : 1;
    localparam integer SLW = SLOTS > 1 ? $clog2(SLOTS) : 1;
    localparam integer GS = 4;                          // popcount group (stage d)
    localparam integer NG = (SIMD + GS - 1) / GS;       // groups per row and slice
    localparam integer GPW = $clog2(GS + 1);            // popcount of a group
    localparam integer NQ = (NG + 3) / 4;               // sums of 4 groups (stage p)
    localparam integer QPW = $clog2(4 * GS + 1);        // such a sum
    localparam integer SPW = $clog2(SIMD + 1);          // popcount of a slice (stage q)
    localparam integer POPW = $clog2(N + 1);            // popcount 0 .. N
    localparam integer DOTW = POPW + 2;                 // dot in [-N, N] (signed, from 2 popcount)
    localparam integer PW = MW + DOTW;                  // M dot
    localparam integer BRW = (BW > K + 1 ? BW : K + 1) + 1;    // B + 2^(K-1)
    localparam integer ACCW = (PW > BRW ? PW : BRW) + 1;       // M dot + B + 2^(K-1)
    localparam integer RW = ACCW > K + Q + 1 ? ACCW : K + Q + 1;
    localparam integer GW = G + 1;                      // a gate: unsigned G bits (sigmoid) or signed G bits (tanh)
    localparam integer FCW = GW + C + 1;                // f c + 2^(G-1)
    localparam integer IGW = 2 * GW + 1;                // i g + 2^(S-1)
    localparam integer FSW = FCW - G;                   // (f c + 2^(G-1)) >>> G
    localparam integer ISW = IGW - S;                   // (i g + 2^(S-1)) >>> S
    localparam integer SUMW = (FSW > ISW ? FSW : ISW) + 1;
    localparam integer STEP_DEPTH = 20;                 // see the header (documentation; the pipeline sets it)

    localparam [TW-1:0] T_LAST = T - 1;
    localparam signed [DOTW-1:0] N_DOT = N;
    localparam signed [BRW-1:0] RND_K = {{(BRW - 1){1'b0}}, 1'b1} << (K - 1);
    localparam signed [FCW-1:0] RND_G = {{(FCW - 1){1'b0}}, 1'b1} << (G - 1);
    localparam signed [IGW-1:0] RND_S = {{(IGW - 1){1'b0}}, 1'b1} << (S - 1);

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
    (* rom_style = "logic" *) logic [PE*MW-1:0] mult_rom [0:2*NF-1];
    (* rom_style = "logic" *) logic [PE*BW-1:0] offset_rom [0:2*NF-1];
    initial begin
        $readmemh(WEIGHT_FILE, weight_rom);
        $readmemh(MULT_FILE, mult_rom);
        $readmemh(OFFSET_FILE, offset_rom);
    end

    // ------------------------------------------------------------------------------------------- buffers
    // in_full / out_full: full buffers (0..2); the writer fills in_wbuf, the datapath reads in_rbuf and writes
    // out_wbuf, the reader streams out_rbuf. Counters carry their RAM word and their last-frame flag in registers.
    // The x RAM holds a frame as WF words of SIMD bits (zero-padded), so that a tile reads only its own slice:
    // an input beat writes its first word at once and the others in the next WF - 1 cycles (s_tready low).
    // Both RAMs are written from a register that, between writes, copies the register behind the RAM's read port:
    // the RAM's inputs then come from next to its output register, and the placer keeps them together.
    logic [1:0] in_full, in_ready, out_full, out_ready; // *_ready: full buffers whose last write has landed
    logic hw_done;                                      // seq_done one cycle later: the last h_t is in the RAM
    logic in_wbuf, in_rbuf, out_wbuf, out_rbuf;
    logic [TW-1:0] in_t, rd_t;
    logic in_last, rd_last;                             // in_t, rd_t == T - 1
    logic [XAW-1:0] in_waddr;                           // x RAM word (in_wbuf T + in_t) WF + word
    logic [TW:0] rd_addr;                               // h RAM word out_rbuf T + rd_t
    logic [WF*SIMD-1:0] in_rest;                        // the words of the beat still to write, from bit 0
    logic [WFW-1:0] in_left;                            // their number
    logic busy, run;                                    // a sequence in the datapath; tiles left to issue
    logic seq_done;                                     // its last h_t is committed (end of this cycle)
    logic rd_release;                                   // the last output frame leaves out_rbuf

    wire [WF*SIMD-1:0] s_pad = s_tdata;                 // zero-padded to whole words
    assign s_tready = in_left == '0 && in_full != 2'd2;
    wire in_beat = s_tvalid && s_tready;
    wire in_we = in_beat || in_left != '0;
    wire in_frame_end = WF == 1 ? in_beat : in_left == 1;   // the frame's last word is written
    wire in_push = in_frame_end && in_last;
    wire start = !busy && in_ready != 2'd0 && out_full != 2'd2;

    (* no_rw_check *) logic [SIMD-1:0] x_ram [0:2*T*WF-1];  // the writer and the datapath use different halves
    logic x_we, x_push;                                 // in_we, in_push one cycle later
    logic [XAW-1:0] x_wa;
    logic [SIMD-1:0] x_wd, c_x;
    always_ff @(posedge clk) begin
        x_wa <= in_waddr;
        x_wd <= !in_we ? c_x : in_beat ? s_pad[SIMD-1:0] : in_rest[SIMD-1:0];
        if (x_we) x_ram[x_wa] <= x_wd;
    end

    always_ff @(posedge clk) begin
        if (in_beat) in_rest <= s_pad >> SIMD;
        else in_rest <= in_rest >> SIMD;
    end

    always_ff @(posedge clk) begin
        if (!rst_n) begin
            in_full <= 2'd0;
            in_ready <= 2'd0;
            in_wbuf <= 1'b0;
            in_rbuf <= 1'b0;
            in_t <= '0;
            in_last <= T == 1;
            in_waddr <= '0;
            in_left <= '0;
            x_we <= 1'b0;
            x_push <= 1'b0;
            out_full <= 2'd0;
            out_ready <= 2'd0;
            out_wbuf <= 1'b0;
            out_rbuf <= 1'b0;
        end else begin
            if (in_beat) in_left <= WF - 1;
            else if (in_left != '0) in_left <= in_left - 1'b1;
            if (in_we) in_waddr <= in_push ? (in_wbuf ? '0 : T * WF) : in_waddr + 1'b1;
            if (in_frame_end) begin
                in_t <= in_push ? '0 : in_t + 1'b1;
                in_last <= in_push ? T == 1 : in_t == T - 2;
                if (in_push) in_wbuf <= !in_wbuf;
            end
            x_we <= in_we;
            x_push <= in_push;
            in_full <= in_full + {1'b0, in_push} - {1'b0, seq_done};
            in_ready <= in_ready + {1'b0, x_push} - {1'b0, seq_done};
            if (seq_done) begin
                in_rbuf <= !in_rbuf;
                out_wbuf <= !out_wbuf;
            end
            out_full <= out_full + {1'b0, seq_done} - {1'b0, rd_release};
            out_ready <= out_ready + {1'b0, hw_done} - {1'b0, rd_release};
            if (rd_release) out_rbuf <= !out_rbuf;
        end
    end

    // ------------------------------------------------------------------------------------------- sequencer (a)
    // Order: forward step 0, backward step 0, forward step 1, ...; within a step row groups nf, within a group
    // input slices sf (the tile index nf SF + sf). The comparisons the next tile needs are kept in registers, and so
    // are the RAM words it reads: x word (frame) WF + sf, weight word dir TILES + tile.
    logic sq_dir;
    logic [TW-1:0] sq_s;
    logic [NFW-1:0] sq_nf;
    logic [SFW-1:0] sq_sf;
    logic sq_first, sq_sf_last, sq_nf_last, sq_s_last;  // tile 0 of a step, sf = SF - 1, nf = NF - 1, s = T - 1
    logic [XAW-1:0] sq_xw, sq_fbase, sq_bbase;          // x word of the tile; first words of the forward and the
                                                        // backward step's frames (in_rbuf T + frame) WF
    logic [TLW:0] sq_waddr;
    logic [1:0] h_ready;                                // h_prev of the direction is complete
    logic [2*H-1:0] h_prev;                             // h_t-1 of forward [0, H) and backward [H, 2H)
    logic step_commit;                                  // a step's h_t is complete (end of this cycle)
    logic w_dir;
    logic [H-1:0] h_full;

    wire issue = run && (!sq_first || h_ready[sq_dir]);
    wire [TW-1:0] sq_frame = sq_dir ? T_LAST - sq_s : sq_s;
    wire sq_step_end = sq_sf_last && sq_nf_last;
    wire sq_next_dir = sq_step_end ? !sq_dir : sq_dir;
    wire [XAW-1:0] x_base = in_rbuf ? T * WF : 0;       // in_rbuf is constant while a sequence is computed

    always_ff @(posedge clk) begin
        if (!rst_n) begin
            busy <= 1'b0;
            run <= 1'b0;
            h_ready <= 2'b00;
        end else if (start) begin
            busy <= 1'b1;
            run <= 1'b1;
            h_ready <= 2'b11;
        end else begin
            if (issue && sq_step_end && sq_dir && sq_s_last) run <= 1'b0;
            if (issue && sq_first) h_ready[sq_dir] <= 1'b0;
            if (step_commit) h_ready[w_dir] <= 1'b1;
            if (seq_done) busy <= 1'b0;
        end
    end

    always_ff @(posedge clk) begin
        if (start) begin
            sq_dir <= 1'b0;
            sq_s <= '0;
            sq_nf <= '0;
            sq_sf <= '0;
            sq_first <= 1'b1;
            sq_sf_last <= SF == 1;
            sq_nf_last <= NF == 1;
            sq_s_last <= T == 1;
            sq_fbase <= x_base;
            sq_bbase <= x_base + (T - 1) * WF;
            sq_xw <= x_base;
            sq_waddr <= '0;
        end else if (issue) begin
            sq_first <= sq_step_end;
            sq_waddr <= sq_step_end && sq_dir ? '0 : sq_waddr + 1'b1;
            // a row group starts over at the first word of its step's frame: forward s, backward s (frame
            // T - 1 - s), forward s + 1, ...
            sq_xw <= !sq_sf_last ? sq_xw + 1'b1 : sq_next_dir ? sq_bbase : sq_fbase;
            if (sq_sf_last) begin
                sq_sf <= '0;
                sq_sf_last <= SF == 1;
                sq_nf <= sq_nf_last ? '0 : sq_nf + 1'b1;
                sq_nf_last <= sq_nf_last ? NF == 1 : sq_nf == NF - 2;
            end else begin
                sq_sf <= sq_sf + 1'b1;
                sq_sf_last <= sq_sf == SF - 2;
            end
            if (sq_step_end) begin
                sq_dir <= !sq_dir;
                if (sq_dir) begin
                    sq_s <= sq_s + 1'b1;
                    sq_s_last <= sq_s == T - 2;
                    sq_bbase <= sq_bbase - WF;
                end else begin
                    sq_fbase <= sq_fbase + WF;
                end
            end
        end
    end

    always_ff @(posedge clk) begin
        if (start) h_prev <= '1;                        // sign(h_0 = 0) = +1
        else if (step_commit) h_prev[w_dir*H +: H] <= h_full;
    end

    // ------------------------------------------------------------------------------------------- b, c, s, t: operands
    // Block RAM outputs pass plain registers before any logic (a slow clock-to-out; the first register can sit
    // next to the RAM): x words b (RAM), c, s; weights b (ROM), c, s, t. h_t-1 is loaded into a shift register at
    // a row group's first slice, below it D zero bits, and shifted by SIMD per tile; t: the tile's slice of d_t =
    // its x word (slices below D) or the h bits, or both where a slice holds x_t's last and h_t-1's first bits.
    logic b_valid, c_valid, s_valid, t_valid;
    logic b_first_sf, b_last_sf, c_first_sf, c_last_sf, s_first_sf, s_last_sf, t_first_sf, t_last_sf;
    logic b_xv, c_xv, s_xv;                             // the slice holds x bits (sf < WF)
    logic [TAGW-1:0] b_tag, c_tag, s_tag, t_tag;
    logic [SIMD-1:0] b_x, s_x, t_x;
    logic [PE*SIMD-1:0] b_w, c_w, s_w, t_w;             // weights of the PE rows on the tile's inputs
    logic [N-1:0] s_h;                                  // {h_t-1, D zeros} from the tile's first input on

    always_ff @(posedge clk) begin
        b_x <= x_ram[sq_xw];
        b_w <= weight_rom[sq_waddr];
        b_first_sf <= sq_sf == '0;
        b_last_sf <= sq_sf_last;
        b_xv <= sq_sf < WF;
        b_tag <= {sq_dir, sq_frame, sq_nf, sq_s == '0, sq_step_end, sq_dir && sq_s_last && sq_step_end};

        c_x <= b_x;
        c_w <= b_w;
        c_first_sf <= b_first_sf;
        c_last_sf <= b_last_sf;
        c_xv <= b_xv;
        c_tag <= b_tag;

        s_x <= c_x;
        s_w <= c_w;
        if (c_valid) s_h <= c_first_sf ? {h_prev[c_tag[TG_DIR]*H +: H], {D{1'b0}}} : s_h >> SIMD;
        s_first_sf <= c_first_sf;
        s_last_sf <= c_last_sf;
        s_xv <= c_xv;
        s_tag <= c_tag;

        t_x <= (s_xv ? s_x : {SIMD{1'b0}}) | s_h[SIMD-1:0];
        t_w <= s_w;
        t_first_sf <= s_first_sf;
        t_last_sf <= s_last_sf;
        t_tag <= s_tag;
    end

    // ------------------------------------------------------------------------------------------- d, p, q: popcount
    // d: each row's XNOR bits popcounted in groups of GS (the XNOR kept in a variable before $countones: Icarus
    // 11 miscounts $countones(~(a ^ b))); p: groups summed by four; q: the row's popcount of the slice.
    logic d_valid, p_valid, q_valid;
    logic d_first_sf, d_last_sf, p_first_sf, p_last_sf, q_first_sf, q_last_sf;
    logic [TAGW-1:0] d_tag, p_tag, q_tag;
    logic [PE*NG*GPW-1:0] d_gs;
    logic [PE*NQ*QPW-1:0] p_qs;
    logic [PE*SPW-1:0] q_ps;

    logic [PE*NG*GPW-1:0] gsum;
    always_comb begin
        logic [NG*GS-1:0] xn;                           // zero-padded to whole groups
        logic [GS-1:0] grp;
        for (int i = 0; i < PE; i++) begin
            xn = '0;
            xn[SIMD-1:0] = ~(t_w[i*SIMD +: SIMD] ^ t_x);
            for (int j = 0; j < NG; j++) begin
                grp = xn[j*GS +: GS];
                gsum[(i*NG + j)*GPW +: GPW] = GPW'($countones(grp));
            end
        end
    end

    logic [PE*NQ*QPW-1:0] qsum;
    always_comb begin
        logic [QPW-1:0] acc;
        for (int i = 0; i < PE; i++)
            for (int j = 0; j < NQ; j++) begin
                acc = '0;
                for (int k = 0; k < 4; k++)
                    if (4 * j + k < NG) acc = acc + QPW'(d_gs[(i*NG + 4*j + k)*GPW +: GPW]);
                qsum[(i*NQ + j)*QPW +: QPW] = acc;
            end
    end

    logic [PE*SPW-1:0] psum;
    always_comb begin
        logic [SPW-1:0] acc;
        for (int i = 0; i < PE; i++) begin
            acc = '0;
            for (int j = 0; j < NQ; j++) acc = acc + SPW'(p_qs[(i*NQ + j)*QPW +: QPW]);
            psum[i*SPW +: SPW] = acc;
        end
    end

    always_ff @(posedge clk) begin
        d_gs <= gsum;
        d_first_sf <= t_first_sf;
        d_last_sf <= t_last_sf;
        d_tag <= t_tag;
        p_qs <= qsum;
        p_first_sf <= d_first_sf;
        p_last_sf <= d_last_sf;
        p_tag <= d_tag;
        q_ps <= psum;
        q_first_sf <= p_first_sf;
        q_last_sf <= p_last_sf;
        q_tag <= p_tag;
    end

    // ------------------------------------------------------------------------------------------- e: accumulate
    // dot = -N + sum over the slices of 2 popcount; e_valid: a row group is complete. The M / B ROMs (in logic)
    // are read at e from the word address registered at q.
    logic e_valid;
    logic [TAGW-1:0] e_tag;
    logic [MBW-1:0] q_mbaddr;
    logic [PE*DOTW-1:0] e_dot;
    logic [PE*MW-1:0] e_m;
    logic [PE*BW-1:0] e_b;
    wire p_dir = p_tag[TG_DIR];
    wire [NFW-1:0] p_nf = p_tag[TG_NF +: NFW];
    always_ff @(posedge clk) begin
        q_mbaddr <= p_dir ? p_nf + NF : p_nf;
        if (q_valid)
            for (int i = 0; i < PE; i++)
                e_dot[i*DOTW +: DOTW] <= (q_first_sf ? -N_DOT : $signed(e_dot[i*DOTW +: DOTW]))
                                         + $signed({1'b0, q_ps[i*SPW +: SPW], 1'b0});
        e_m <= mult_rom[q_mbaddr];
        e_b <= offset_rom[q_mbaddr];
        e_tag <= q_tag;
    end

    // ------------------------------------------------------------------------------------------- m, g, k, r: rows
    // m1 .. m3: M dot in the three stages of binary_lstm_mul, B + 2^(K-1) beside it
    logic m1_valid, m2_valid, m3_valid, g_valid, k_valid, r_valid;
    logic [TAGW-1:0] m1_tag, m2_tag, m3_tag, g_tag, k_tag, r_tag;
    wire [PE*GW-1:0] r_gate;                            // gates of this row group, row nf PE + p at [p GW +: GW]
    wire [NFW-1:0] k_nf = k_tag[TG_NF +: NFW];
    always_ff @(posedge clk) begin
        m1_tag <= e_tag;
        m2_tag <= m1_tag;
        m3_tag <= m2_tag;
        g_tag <= m3_tag;
        k_tag <= g_tag;
        r_tag <= k_tag;
    end

    genvar p;
    generate
        for (p = 0; p < PE; p = p + 1) begin : row
            wire signed [PW-1:0] m3_prod;
            logic signed [BRW-1:0] m1_b, m2_b, m3_b;   // B + 2^(K-1): the rounding constant added beside M dot
            logic signed [ACCW-1:0] g_acc;
            binary_lstm_mul #(.AW(MW), .BW(DOTW), .A_SIGNED(1)) u_mdot (
                .clk(clk), .a(e_m[p*MW +: MW]), .b(e_dot[p*DOTW +: DOTW]), .p(m3_prod));
            always_ff @(posedge clk) begin
                m1_b <= $signed(e_b[p*BW +: BW]) + RND_K;
                m2_b <= m1_b;
                m3_b <= m2_b;
                g_acc <= m3_prod + m3_b;
            end
            // floor((acc + 2^(K-1)) / 2^K) = g_acc >>> K is in range when bits [K + Q - 1, RW) of g_acc agree; its
            // unclamped table index idx = that value + 2^(Q-1) mod 2^Q: sub-table idx / 2^(Q-2), entry idx mod 2^(Q-2)
            wire signed [RW-1:0] acc_x = g_acc;
            wire [RW-K-Q:0] over = acc_x[RW-1:K+Q-1];
            wire [Q-1:0] idx = {~acc_x[K+Q-1], acc_x[K +: Q-1]};
            wire [Q-1:0] lo = idx & ((1 << (Q - 2)) - 1);
            logic k_in, k_neg;
            logic [1:0] k_hi;
            logic signed [GW-1:0] r_g;
            always_ff @(posedge clk) begin
                k_in <= &over || !(|over);
                k_neg <= acc_x[RW-1];
                k_hi <= idx >> (Q - 2);
            end
            // the g gate (hardware row 4 j + 2) goes through TANH, i, f, o through SIGMOID; out of range: the
            // table's first or last entry
            if (PE % 4 != 0) begin : both
                (* rom_style = "logic" *) logic [G-1:0] sig_rom [0:(1<<Q)-1];
                (* rom_style = "logic" *) logic [G-1:0] tanh_rom [0:(1<<Q)-1];
                initial begin
                    $readmemh(SIGMOID_FILE, sig_rom);
                    $readmemh(TANH_FILE, tanh_rom);
                end
                logic [4*G-1:0] k_sig, k_th;
                always_ff @(posedge clk)
                    for (int j = 0; j < 4; j++) begin
                        k_sig[j*G +: G] <= sig_rom[(j << (Q - 2)) | lo];
                        k_th[j*G +: G] <= tanh_rom[(j << (Q - 2)) | lo];
                    end
                wire is_tanh = ((k_nf % 4) * PE + p) % 4 == 2;
                wire [G-1:0] sig = !k_in ? (k_neg ? sig_rom[0] : sig_rom[(1<<Q)-1]) : k_sig[k_hi*G +: G];
                wire [G-1:0] th = !k_in ? (k_neg ? tanh_rom[0] : tanh_rom[(1<<Q)-1]) : k_th[k_hi*G +: G];
                always_ff @(posedge clk) r_g <= is_tanh ? $signed({th[G-1], th}) : $signed({1'b0, sig});
            end else if (p % 4 == 2) begin : tanh_row
                (* rom_style = "logic" *) logic [G-1:0] tab [0:(1<<Q)-1];
                initial $readmemh(TANH_FILE, tab);
                logic [4*G-1:0] k_sub;
                always_ff @(posedge clk)
                    for (int j = 0; j < 4; j++) k_sub[j*G +: G] <= tab[(j << (Q - 2)) | lo];
                wire [G-1:0] th = !k_in ? (k_neg ? tab[0] : tab[(1<<Q)-1]) : k_sub[k_hi*G +: G];
                always_ff @(posedge clk) r_g <= $signed({th[G-1], th});
            end else begin : sig_row
                (* rom_style = "logic" *) logic [G-1:0] tab [0:(1<<Q)-1];
                initial $readmemh(SIGMOID_FILE, tab);
                logic [4*G-1:0] k_sub;
                always_ff @(posedge clk)
                    for (int j = 0; j < 4; j++) k_sub[j*G +: G] <= tab[(j << (Q - 2)) | lo];
                wire [G-1:0] sig = !k_in ? (k_neg ? tab[0] : tab[(1<<Q)-1]) : k_sub[k_hi*G +: G];
                always_ff @(posedge clk) r_g <= $signed({1'b0, sig});
            end
            assign r_gate[p*GW +: GW] = r_g;
        end
    endgenerate

    // ------------------------------------------------------------------------------------------- r: units
    // win: the last 4 U gate rows, oldest first; a unit is complete when its o row (4 j + 3) arrived.
    wire [NFW-1:0] r_nf = r_tag[TG_NF +: NFW];
    wire [4*U*GW-1:0] win;
    wire r_unit;
    wire [SLW-1:0] r_slot, k_slot;
    generate
        if (PE >= 4) begin : wide
            assign win = r_gate;
            assign r_unit = r_valid;
            assign r_slot = r_nf;
            assign k_slot = k_nf;
        end else begin : narrow
            logic [(4-PE)*GW-1:0] w_prev;
            assign win = {r_gate, w_prev};
            always_ff @(posedge clk) if (r_valid) w_prev <= win[PE*GW +: (4-PE)*GW];
            assign r_unit = r_valid && (((r_nf % 4) * PE + PE) % 4 == 0);
            assign r_slot = (r_nf * PE) >> 2;
            assign k_slot = (k_nf * PE) >> 2;
        end
    endgenerate

    // ------------------------------------------------------------------------------------------- u1 .. w, commit: cell
    // The cell state of a unit is read (r, with the k tag: the same slot and step as the unit's last row group)
    // long after the previous step of its direction wrote it: that step's h_t is complete before this step starts.
    // u1 .. u3: f c and i g in the three stages of binary_lstm_mul (f and i are sigmoid gates: G unsigned bits).
    localparam integer CT_SEQ = 0;                      // cell tags: last unit of the sequence
    localparam integer CT_STEP = 1;                     // last unit of a step
    localparam integer CT_DIR = 2;
    localparam integer CT_FRAME = 3;
    localparam integer CT_SLOT = CT_FRAME + TW;
    localparam integer CTW = CT_SLOT + SLW;
    logic u1_valid, u2_valid, u3_valid, v_valid, w_valid;
    logic [CTW-1:0] u1_ct, u2_ct, u3_ct, v_ct, w_ct;
    logic [TW:0] w_waddr;                               // h RAM word out_wbuf T + frame
    wire [U-1:0] w_hbit;
    wire [SLW-1:0] w_slot = w_ct[CT_SLOT +: SLW];
    wire [TW-1:0] v_frame = v_ct[CT_FRAME +: TW];
    assign w_dir = w_ct[CT_DIR];
    always_ff @(posedge clk) begin
        u1_ct <= {r_slot, r_tag[TG_FRAME +: TW], r_tag[TG_DIR], r_tag[TG_STEP], r_tag[TG_SEQ]};
        u2_ct <= u1_ct;
        u3_ct <= u2_ct;
        v_ct <= u3_ct;
        w_ct <= v_ct;
        w_waddr <= out_wbuf ? v_frame + T : {1'b0, v_frame};  // out_wbuf moves only after the commit
    end

    generate
        for (p = 0; p < U; p = p + 1) begin : lane
            // c of unit slot U + p, direction-major; in LUTs: c_t-1 goes straight into a multiplier, and a block
            // RAM's clock-to-out (an ECP5's, without its output register) left too little of a 10 ns cycle
            (* ram_style = "distributed" *) logic signed [C-1:0] mem [0:2*SLOTS-1];
            logic signed [C-1:0] r_c, w_c;              // c_t-1 of the unit; w_c: c_t
            wire signed [GW-1:0] gi = win[(4*p+0)*GW +: GW];
            wire signed [GW-1:0] gf = win[(4*p+1)*GW +: GW];
            wire signed [GW-1:0] gg = win[(4*p+2)*GW +: GW];
            wire signed [GW-1:0] go = win[(4*p+3)*GW +: GW];
            wire signed [G+C-1:0] u3_fc;
            wire signed [G+GW-1:0] u3_ig;
            logic u1_oz, u2_oz, u3_oz, v_oz, w_hb;
            logic signed [FSW-1:0] v_fc;
            logic signed [ISW-1:0] v_ig;
            binary_lstm_mul #(.AW(G), .BW(C), .A_SIGNED(0)) u_fc (
                .clk(clk), .a(gf[G-1:0]), .b(r_c), .p(u3_fc));
            binary_lstm_mul #(.AW(G), .BW(GW), .A_SIGNED(0)) u_ig (
                .clk(clk), .a(gi[G-1:0]), .b(gg), .p(u3_ig));
            wire signed [FCW-1:0] fc = (u3_fc + RND_G) >>> G;
            wire signed [IGW-1:0] ig = (u3_ig + RND_S) >>> S;
            // saturation: the sum fits C bits when bits [C - 1, SUMW) agree, else the bound of its sign
            wire signed [SUMW-1:0] sum = v_fc + v_ig;
            wire [SUMW-C:0] over = sum[SUMW-1:C-1];
            always_ff @(posedge clk) begin
                r_c <= k_tag[TG_FIRST] ? {C{1'b0}} : mem[k_tag[TG_DIR] ? k_slot + SLOTS : k_slot];
                u1_oz <= go == '0;
                u2_oz <= u1_oz;
                u3_oz <= u2_oz;
                v_fc <= fc[FSW-1:0];
                v_ig <= ig[ISW-1:0];
                v_oz <= u3_oz;
                w_c <= &over || !(|over) ? sum[C-1:0] : {sum[SUMW-1], {(C - 1){!sum[SUMW-1]}}};
                w_hb <= v_oz || !sum[SUMW-1];          // c_t has the sign of the sum
                if (w_valid) mem[w_dir ? w_slot + SLOTS : w_slot] <= w_c;
            end
            assign w_hbit[p] = w_hb;
        end
    endgenerate

    // h_t: units complete in order within a step (slot 0, 1, ...; the other direction never interleaves), so a
    // shift register gathers them; the step's last unit completes h_t.
    generate
        if (SLOTS > 1) begin : hsr
            logic [H-U-1:0] bits;
            always_ff @(posedge clk) if (w_valid) bits <= h_full[H-1:U];
            assign h_full = {w_hbit, bits};
        end else begin : hall
            assign h_full = w_hbit;
        end
    endgenerate

    assign step_commit = w_valid && w_ct[CT_STEP];
    assign seq_done = step_commit && w_ct[CT_SEQ];

    // valid bits (reset)
    always_ff @(posedge clk) begin
        if (!rst_n) begin
            b_valid <= 1'b0;
            c_valid <= 1'b0;
            s_valid <= 1'b0;
            t_valid <= 1'b0;
            d_valid <= 1'b0;
            p_valid <= 1'b0;
            q_valid <= 1'b0;
            e_valid <= 1'b0;
            m1_valid <= 1'b0;
            m2_valid <= 1'b0;
            m3_valid <= 1'b0;
            g_valid <= 1'b0;
            k_valid <= 1'b0;
            r_valid <= 1'b0;
            u1_valid <= 1'b0;
            u2_valid <= 1'b0;
            u3_valid <= 1'b0;
            v_valid <= 1'b0;
            w_valid <= 1'b0;
        end else begin
            b_valid <= issue;
            c_valid <= b_valid;
            s_valid <= c_valid;
            t_valid <= s_valid;
            d_valid <= t_valid;
            p_valid <= d_valid;
            q_valid <= p_valid;
            e_valid <= q_valid && q_last_sf;
            m1_valid <= e_valid;
            m2_valid <= m1_valid;
            m3_valid <= m2_valid;
            g_valid <= m3_valid;
            k_valid <= g_valid;
            r_valid <= k_valid;
            u1_valid <= r_unit;
            u2_valid <= u1_valid;
            u3_valid <= u2_valid;
            v_valid <= u3_valid;
            w_valid <= v_valid;
        end
    end

    // ------------------------------------------------------------------------------------------- output
    // A frame is read when the output FIFO has room for it and for every read still on its way (credits); the
    // data passes the RAM's register and three plain registers (o1 .. o3) into the FIFO, a ring whose entry at
    // the read pointer is m_tdata. Only the FIFO's count and read pointer depend on m_tready (no data moves).
    localparam integer OD = 6;                          // FIFO entries: 4 reads on their way + 2, a beat per cycle
    (* no_rw_check *) logic [H-1:0] fwd_ram [0:2*T-1];
    (* no_rw_check *) logic [H-1:0] bwd_ram [0:2*T-1];
    logic [H-1:0] oq_f, oq_b;
    logic [2*H-1:0] o1, o2, o3;
    logic oq_valid, o1_valid, o2_valid, o3_valid;
    logic [2*H-1:0] ofifo [0:OD-1];                    // a ring: written at owr, read (m_tdata) at ord
    logic [2:0] ocount, owr, ord;
    wire [2:0] opending = ocount + oq_valid + o1_valid + o2_valid + o3_valid;
    wire rd_have = out_ready != 2'd0;
    wire rd_go = rd_have && opending < OD;
    wire opop = ocount != '0 && m_tready;
    assign rd_release = rd_go && rd_last;

    // h_t is written one cycle after the commit, from hw_f / hw_b (which otherwise copy o1); the reader sees a
    // buffer once its last write has landed (out_ready)
    logic hw_we_f, hw_we_b;
    logic [TW:0] hw_addr;
    logic [H-1:0] hw_f, hw_b;
    always_ff @(posedge clk) begin
        hw_addr <= w_waddr;
        hw_f <= step_commit && !w_dir ? h_full : o1[H-1:0];
        hw_b <= step_commit && w_dir ? h_full : o1[2*H-1:H];
        if (!rst_n) begin
            hw_we_f <= 1'b0;
            hw_we_b <= 1'b0;
            hw_done <= 1'b0;
        end else begin
            hw_we_f <= step_commit && !w_dir;
            hw_we_b <= step_commit && w_dir;
            hw_done <= seq_done;
        end
    end
    always_ff @(posedge clk) begin
        if (hw_we_f) fwd_ram[hw_addr] <= hw_f;
    end
    always_ff @(posedge clk) begin
        oq_f <= fwd_ram[rd_addr];
    end
    always_ff @(posedge clk) begin
        if (hw_we_b) bwd_ram[hw_addr] <= hw_b;
    end
    always_ff @(posedge clk) begin
        oq_b <= bwd_ram[rd_addr];
    end
    always_ff @(posedge clk) begin
        o1 <= {oq_b, oq_f};
        o2 <= o1;
        o3 <= o2;
        if (o3_valid) ofifo[owr] <= o3;
    end
    always_ff @(posedge clk) begin
        if (!rst_n) begin
            oq_valid <= 1'b0;
            o1_valid <= 1'b0;
            o2_valid <= 1'b0;
            o3_valid <= 1'b0;
            ocount <= '0;
            owr <= '0;
            ord <= '0;
            rd_t <= '0;
            rd_last <= T == 1;
            rd_addr <= '0;
        end else begin
            oq_valid <= rd_go;
            o1_valid <= oq_valid;
            o2_valid <= o1_valid;
            o3_valid <= o2_valid;
            ocount <= ocount + o3_valid - opop;
            if (o3_valid) owr <= owr == 3'(OD - 1) ? '0 : owr + 1'b1;
            if (opop) ord <= ord == 3'(OD - 1) ? '0 : ord + 1'b1;
            if (rd_go) begin
                rd_t <= rd_last ? '0 : rd_t + 1'b1;
                rd_last <= rd_last ? T == 1 : rd_t == T - 2;
                rd_addr <= rd_last ? (out_rbuf ? '0 : T) : rd_addr + 1'b1;
            end
        end
    end
    assign m_tdata = ofifo[ord];
    assign m_tvalid = ocount != '0;

endmodule

// p = a b in three registered stages of LUTs and carry chains (a binary_lstm multiplier placed anywhere, unlike a
// MULT18X18D): 1: sums of b or 0 picked by two bits of a; 2: those summed by two; 3: all summed. a is two's
// complement when A_SIGNED, else unsigned; b is two's complement; p is exact (it fits AW + BW bits, so the sums
// can wrap at that width).
module binary_lstm_mul #(
    parameter integer AW = 8,
    parameter integer BW = 12,
    parameter integer A_SIGNED = 1
) (
    input  wire                      clk,
    input  wire [AW-1:0]             a,
    input  wire signed [BW-1:0]      b,
    output logic signed [AW+BW-1:0]  p
);
    localparam integer N1 = (AW + 1) / 2;               // pairs of a's bits
    localparam integer N2 = (N1 + 1) / 2;               // pairs of pairs
    localparam integer W1 = BW + 2;                     // b (a0 + 2 a1), the top pair's 2 a1 of weight -2 if signed
    localparam integer W2 = BW + 4;                     // s0 + 4 s1
    localparam integer PW = AW + BW;

    wire signed [2*N1-1:0] a_sx = $signed(a);
    wire [2*N1-1:0] a_zx = a;
    wire [2*N1-1:0] ae = A_SIGNED != 0 ? a_sx : a_zx;  // extended to whole pairs, same value

    logic [2*N2*W1-1:0] s1_next, s1;                   // slot N1 (if any) stays zero
    always_comb begin
        logic signed [W1-1:0] lo, hi;
        s1_next = '0;
        for (int j = 0; j < N1; j++) begin
            lo = ae[2*j] ? W1'(b) : W1'(0);
            hi = ae[2*j+1] ? W1'(b) : W1'(0);
            s1_next[j*W1 +: W1] = A_SIGNED != 0 && j == N1 - 1 ? lo - (hi <<< 1) : lo + (hi <<< 1);
        end
    end

    logic [N2*W2-1:0] s2_next, s2;
    always_comb begin
        logic signed [W2-1:0] x0, x1;
        for (int i = 0; i < N2; i++) begin
            x0 = $signed(s1[(2*i)*W1 +: W1]);
            x1 = $signed(s1[(2*i+1)*W1 +: W1]);
            s2_next[i*W2 +: W2] = x0 + (x1 <<< 2);
        end
    end

    logic signed [PW-1:0] p_next;
    always_comb begin
        p_next = '0;
        for (int i = 0; i < N2; i++) p_next = p_next + (PW'($signed(s2[i*W2 +: W2])) <<< (4 * i));
    end

    always_ff @(posedge clk) begin
        s1 <= s1_next;
        s2 <= s2_next;
        p <= p_next;
    end

endmodule

`resetall
