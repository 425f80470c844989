// Binary bidirectional LSTM for Vitis HLS, in finn-hlslib's streaming style (folded XNOR-popcount matrix-vector
// products over PE gate rows x SIMD input bits per cycle).
//
// It computes exactly the integer arithmetic of docs/numeric_spec.md ("Binary LSTM") and of the golden model
// bcrnn.reference.lstm.run_direction / run_bilstm, bit for bit (tests/test_hls_lstm.py, C simulation):
//
//   d_t    = [x_t, h_t-1]                        N = D + H bits, h_0 = all ones, c_0 = 0
//   dot_r  = 2 popcount(XNOR(W_r, d_t)) - N      per gate row r
//   acc_r  = M_r dot_r + B_r
//   p_r    = clamp((acc_r + 2^(K-1)) >> K, -2^(Q-1), 2^(Q-1) - 1)
//   i,f,o  = SIGMOID[p + 2^(Q-1)]   g = TANH[p + 2^(Q-1)]        (tables from params.h)
//   c      = sat_C(((f c + 2^(G-1)) >> G) + ((i g + 2^(S-1)) >> S)),   S = 2G - 1 - F
//   h bit  = (o == 0 || c >= 0)
//
// Streams: T input words of D bits (bit j = input bit j of the frame), then T output words of 2H bits
// (bits [0, H) = forward h_t, bits [H, 2H) = backward h_t), one sequence per call.
//
// Parameter layout (written by bcrnn/hls_lstm.py into params.h):
//   * Hardware gate rows are unit-major: row r = 4 j + gate, gate 0..3 = i, f, g, o of hidden unit j (the
//     reference stores the gate blocks [i | f | g | o] x H; the generator interleaves them). The four gates of a
//     unit therefore leave the matrix-vector unit back to back and the cell update follows in the same pipeline,
//     without a second pass over the hidden units.
//   * FINN-style folding: PE processing elements, neuron fold NF = 4H / PE, synapse fold SF = (D + H) / SIMD,
//     TILES = NF * SF. PE p handles rows r = nf * PE + p; weights[p][nf * SF + sf] holds the SIMD weight bits of
//     row nf * PE + p for inputs [sf * SIMD, (sf + 1) * SIMD), bit k = input sf * SIMD + k.
//     mult[p][nf] and offset[p][nf] are M_r and B_r of the same row.
//
// Timing: reading T cycles, each direction T steps of TILES cycles (the II=1 fold loop) plus the pipeline depth,
// writing T cycles (bcrnn.hls_lstm.lstm_cycles, one sequence's latency). The three stages run as DATAFLOW processes
// over ping-pong buffers, so in a stream a sequence enters every compute stage (bcrnn.hls_lstm.lstm_interval), as
// in the RTL block hw/rtl/binary_lstm.sv.

#ifndef BCRNN_BINARY_LSTM_HPP
#define BCRNN_BINARY_LSTM_HPP

#include "ap_int.h"
#include "hls_stream.h"

namespace bcrnn {

// Bits needed for the unsigned integers 0 .. n - 1 (ceil(log2(n)), at least 0).
constexpr unsigned clog2(unsigned n) { return n <= 1 ? 0 : 1 + clog2((n + 1) / 2); }
constexpr int imax(int a, int b) { return a > b ? a : b; }

// Folding of the gate matrix (4H rows x (D + H) columns) and its checks.
template <unsigned D, unsigned H, unsigned SIMD, unsigned PE>
struct BinaryLSTMFolding {
    static_assert(D >= 1 && H >= 1, "BinaryBiLSTM: D (input bits) and H (hidden units) must be positive");
    static_assert(PE >= 1 && PE <= 4 * H && (4 * H) % PE == 0,
                  "BinaryBiLSTM: PE must divide 4*H (the number of gate rows)");
    static_assert(SIMD >= 1 && SIMD <= D + H && (D + H) % SIMD == 0,
                  "BinaryBiLSTM: SIMD must divide D+H (the bits of [x_t, h_t-1])");
    static const unsigned N = D + H;                // bits of d_t
    static const unsigned ROWS = 4 * H;             // gate rows
    static const unsigned NF = (PE >= 1 && ROWS % PE == 0) ? ROWS / PE : 1;       // neuron fold
    static const unsigned SF = (SIMD >= 1 && N % SIMD == 0) ? N / SIMD : 1;       // synapse fold
    static const unsigned TILES = NF * SF;          // weight words per PE = cycles per LSTM step
    // Cell-state banks: with PE a multiple of 4, PE/4 units finish per fold iteration, one per bank.
    static const unsigned CELL_BANKS = (PE % 4 == 0) ? PE / 4 : 1;
};

// Number of ones in x: an adder tree after unrolling.
template <unsigned W>
ap_uint<clog2(W + 1)> popcount(const ap_uint<W> &x) {
#pragma HLS INLINE
    ap_uint<clog2(W + 1)> n = 0;
    for (unsigned i = 0; i < W; i++) {
#pragma HLS UNROLL
        n += x[i];
    }
    return n;
}

// One direction over the buffered sequence: hseq[t] = h_t for t = 0..T-1 (REVERSE: steps t = T-1 .. 0).
template <unsigned D, unsigned H, unsigned T, unsigned SIMD, unsigned PE, bool REVERSE, int MW, int BW, int Q,
          int K, int G, int C, int F>
void BinaryLSTMDirection(const ap_uint<D> seq[T], ap_uint<H> hseq[T],
                         const ap_uint<SIMD> weights[PE][BinaryLSTMFolding<D, H, SIMD, PE>::TILES],
                         const ap_int<MW> mult[PE][BinaryLSTMFolding<D, H, SIMD, PE>::NF],
                         const ap_int<BW> offset[PE][BinaryLSTMFolding<D, H, SIMD, PE>::NF],
                         const ap_uint<G> sigmoid[1 << Q], const ap_int<G> tanh[1 << Q]) {
#pragma HLS ARRAY_PARTITION variable = weights complete dim = 1
#pragma HLS ARRAY_PARTITION variable = mult complete dim = 1
#pragma HLS ARRAY_PARTITION variable = offset complete dim = 1
    // PE table reads per cycle: the 2^Q-entry tables become PE-ported logic (about G 2^Q / 64 LUT6 per port)
#pragma HLS ARRAY_PARTITION variable = sigmoid complete
#pragma HLS ARRAY_PARTITION variable = tanh complete
    typedef BinaryLSTMFolding<D, H, SIMD, PE> Fold;
    const unsigned N = Fold::N, NF = Fold::NF, SF = Fold::SF, CB = Fold::CELL_BANKS;
    const int S = 2 * G - 1 - F;                    // shift of i*g to the cell scale
    const int POPW = clog2(N + 1);                  // popcount 0..N
    const int DOTW = POPW + 2;                      // dot in [-N, N] (and 2 popcount before the subtraction)
    const int ACCW = imax(MW + DOTW, BW) + 1;       // M dot + B, exact for any M, B of these widths
    const int RW = imax(ACCW, K) + 1;               // acc + 2^(K-1)
    const int GW = G + 1;                           // a gate value: unsigned G bits (sigmoid) or signed (tanh)
    const int FCW = GW + C + 1;                     // f c + 2^(G-1)
    const int IGW = 2 * GW + 1;                     // i g + 2^(S-1)
    const int SUMW = imax(FCW - G, IGW - S) + 1;    // the two rounded terms and their sum, before saturation
    const int PLO = -(1 << (Q - 1)), PHI = (1 << (Q - 1)) - 1;
    const int CLO = -(1 << (C - 1)), CHI = (1 << (C - 1)) - 1;

    // Cell state: unit j lives in cell[j % CB][j / CB].
    ap_int<C> cell[CB][H / CB];
#pragma HLS ARRAY_PARTITION variable = cell complete dim = 1
    for (unsigned j = 0; j < H / CB; j++) {
        for (unsigned b = 0; b < CB; b++) {
#pragma HLS UNROLL
            cell[b][j] = 0;                          // c_0 = 0
        }
    }
    ap_uint<H> h = ~ap_uint<H>(0);                  // h_0 = 0, whose sign bit is +1: all ones

Step:
    for (unsigned s = 0; s < T; s++) {
        const unsigned t = REVERSE ? T - 1 - s : s;
        const ap_uint<N> d = (h, seq[t]);          // bits [0, D) = x_t, bits [D, D + H) = h_t-1
        ap_uint<H> h_next = 0;
        ap_uint<POPW> pop[PE];                      // running popcount of each PE's row
#pragma HLS ARRAY_PARTITION variable = pop complete
        ap_int<GW> gate[PE + 3];                    // [0, 3): last three rows of the previous fold; [3, PE + 3): this one
#pragma HLS ARRAY_PARTITION variable = gate complete
        unsigned nf = 0, sf = 0;
    Fold:
        for (unsigned tile = 0; tile < NF * SF; tile++) {
#pragma HLS PIPELINE II = 1
            const ap_uint<SIMD> slice = d >> (sf * SIMD);   // inputs [sf SIMD, (sf + 1) SIMD)
            for (unsigned p = 0; p < PE; p++) {
#pragma HLS UNROLL
                // matches of W_r and d_t: popcount(XNOR), accumulated over the synapse fold
                const ap_uint<POPW> part = popcount<SIMD>(~(weights[p][tile] ^ slice));
                pop[p] = (sf == 0 ? ap_uint<POPW>(0) : pop[p]) + part;
            }
            if (sf == SF - 1) {                     // rows nf * PE .. nf * PE + PE - 1 are complete
                for (unsigned p = 0; p < PE; p++) {
#pragma HLS UNROLL
                    const unsigned row = nf * PE + p;
                    // dot_r = 2 popcount(XNOR) - N
                    const ap_int<DOTW> dot = (ap_int<DOTW>(pop[p]) << 1) - ap_int<DOTW>(N);
                    // acc_r = M_r dot_r + B_r
                    const ap_int<ACCW> acc = ap_int<ACCW>(mult[p][nf]) * dot + offset[p][nf];
                    // p_r = clamp(floor((acc_r + 2^(K-1)) / 2^K)): >> on a signed ap_int is the floor
                    const ap_int<RW> rounded = (ap_int<RW>(acc) + (ap_int<RW>(1) << (K - 1))) >> K;
                    const ap_int<Q> code = rounded < PLO ? ap_int<Q>(PLO) : rounded > PHI ? ap_int<Q>(PHI)
                                                                                        : ap_int<Q>(rounded);
                    const ap_uint<Q> index = ap_uint<Q>(code) ^ (ap_uint<Q>(1) << (Q - 1));  // p + 2^(Q-1)
                    // the g gate (row 4j + 2) through TANH, i, f, o through SIGMOID
                    gate[3 + p] = (row % 4 == 2) ? ap_int<GW>(tanh[index]) : ap_int<GW>(sigmoid[index]);
                }
                for (unsigned p = 0; p < PE; p++) {
#pragma HLS UNROLL
                    const unsigned row = nf * PE + p;
                    if (row % 4 == 3) {             // the o row: all four gates of unit j are known
                        const unsigned j = row / 4;
                        const unsigned bank = (PE % 4 == 0) ? p / 4 : 0, slot = (PE % 4 == 0) ? nf : j;
                        const ap_int<GW> gi = gate[p], gf = gate[p + 1], gg = gate[p + 2], go = gate[p + 3];
                        const ap_int<C> c = cell[bank][slot];
                        // floor((f c + 2^(G-1)) / 2^G) + floor((i g + 2^(S-1)) / 2^S), saturated to C bits
                        const ap_int<FCW> fc = ap_int<FCW>(gf) * c + (ap_int<FCW>(1) << (G - 1));
                        const ap_int<IGW> ig = ap_int<IGW>(gi) * gg + (ap_int<IGW>(1) << (S - 1));
                        const ap_int<SUMW> sum = ap_int<SUMW>(fc >> G) + ap_int<SUMW>(ig >> S);
                        const ap_int<C> c_new = sum < CLO ? ap_int<C>(CLO) : sum > CHI ? ap_int<C>(CHI)
                                                                                      : ap_int<C>(sum);
                        cell[bank][slot] = c_new;
                        // h bit = sign(o tanh(c)) with sign(0) = +1
                        h_next[j] = (go == 0 || c_new >= 0) ? 1 : 0;
                    }
                }
                for (unsigned k = 0; k < 3; k++) {
#pragma HLS UNROLL
                    gate[k] = gate[PE + k];         // a unit's gates may straddle two folds (PE = 1, 2, ...)
                }
            }
            if (++sf == SF) {
                sf = 0;
                nf++;
            }
        }
        h = h_next;
        hseq[t] = h;
    }
}

// The three stages of the kernel, separate functions so that BinaryBiLSTM can overlap them (DATAFLOW).
template <unsigned D, unsigned T>
void ReadSequence(hls::stream<ap_uint<D> > &in, ap_uint<D> seq[T]) {
Read:
    for (unsigned t = 0; t < T; t++) {
#pragma HLS PIPELINE II = 1
        seq[t] = in.read();
    }
}

template <unsigned D, unsigned H, unsigned T, unsigned SIMD, unsigned PE, int MW, int BW, int Q, int K, int G, int C,
          int F>
void BothDirections(const ap_uint<D> seq[T], ap_uint<H> hf[T], ap_uint<H> hb[T],
                    const ap_uint<SIMD> fwd_weights[PE][BinaryLSTMFolding<D, H, SIMD, PE>::TILES],
                    const ap_int<MW> fwd_mult[PE][BinaryLSTMFolding<D, H, SIMD, PE>::NF],
                    const ap_int<BW> fwd_offset[PE][BinaryLSTMFolding<D, H, SIMD, PE>::NF],
                    const ap_uint<SIMD> bwd_weights[PE][BinaryLSTMFolding<D, H, SIMD, PE>::TILES],
                    const ap_int<MW> bwd_mult[PE][BinaryLSTMFolding<D, H, SIMD, PE>::NF],
                    const ap_int<BW> bwd_offset[PE][BinaryLSTMFolding<D, H, SIMD, PE>::NF],
                    const ap_uint<G> sigmoid[1 << Q], const ap_int<G> tanh[1 << Q]) {
    BinaryLSTMDirection<D, H, T, SIMD, PE, false, MW, BW, Q, K, G, C, F>(seq, hf, fwd_weights, fwd_mult, fwd_offset,
                                                                         sigmoid, tanh);
    BinaryLSTMDirection<D, H, T, SIMD, PE, true, MW, BW, Q, K, G, C, F>(seq, hb, bwd_weights, bwd_mult, bwd_offset,
                                                                        sigmoid, tanh);
}

template <unsigned H, unsigned T>
void WriteSequence(const ap_uint<H> hf[T], const ap_uint<H> hb[T], hls::stream<ap_uint<2 * H> > &out) {
Write:
    for (unsigned t = 0; t < T; t++) {
#pragma HLS PIPELINE II = 1
        const ap_uint<2 * H> word = (hb[t], hf[t]); // bits [0, H) forward, [H, 2H) backward
        out.write(word);
    }
}

// The top-level kernel: T frames of D bits in, T frames of 2H bits out (forward h_t low, backward h_t high).
// Template arguments: sizes, folding, the widths MW / BW of the per-row multipliers and offsets, and the
// fixed-point format of bcrnn.fixed_point.LSTMFormat (P = pre_frac, Q = pre_bits, K = scale_frac, G = gate_bits,
// C = cell_bits, F = cell_frac). P only sets the scale the tables were computed for; the kernel never uses it.
template <unsigned D, unsigned H, unsigned T, unsigned SIMD, unsigned PE, int MW, int BW, int P = 4, int Q = 8,
          int K = 8, int G = 8, int C = 16, int F = 10>
void BinaryBiLSTM(hls::stream<ap_uint<D> > &in, hls::stream<ap_uint<2 * H> > &out,
                  const ap_uint<SIMD> fwd_weights[PE][BinaryLSTMFolding<D, H, SIMD, PE>::TILES],
                  const ap_int<MW> fwd_mult[PE][BinaryLSTMFolding<D, H, SIMD, PE>::NF],
                  const ap_int<BW> fwd_offset[PE][BinaryLSTMFolding<D, H, SIMD, PE>::NF],
                  const ap_uint<SIMD> bwd_weights[PE][BinaryLSTMFolding<D, H, SIMD, PE>::TILES],
                  const ap_int<MW> bwd_mult[PE][BinaryLSTMFolding<D, H, SIMD, PE>::NF],
                  const ap_int<BW> bwd_offset[PE][BinaryLSTMFolding<D, H, SIMD, PE>::NF],
                  const ap_uint<G> sigmoid[1 << Q], const ap_int<G> tanh[1 << Q]) {
    static_assert(T >= 1, "BinaryBiLSTM: T (frames per sequence) must be positive");
    static_assert(MW >= 1 && BW >= 1, "BinaryBiLSTM: MW and BW are the bit widths of M_r and B_r");
    static_assert(P >= 0, "BinaryBiLSTM: P (pre_frac) must be non-negative");
    static_assert(Q >= 2 && Q <= 16, "BinaryBiLSTM: Q (pre_bits) must be in [2, 16]");
    static_assert(K >= 1, "BinaryBiLSTM: K (scale_frac) must be positive");
    static_assert(G >= 2 && C >= 2, "BinaryBiLSTM: G (gate_bits) and C (cell_bits) must be at least 2");
    static_assert(F > 0 && F < 2 * G - 1, "BinaryBiLSTM: F (cell_frac) must be in (0, 2G - 1), as in LSTMFormat");
    static_assert(C <= 31, "BinaryBiLSTM: C (cell_bits) must fit an int");

    // DATAFLOW: reading sequence n + 1, computing n and writing n - 1 overlap, so the kernel takes a sequence every
    // 2 T (TILES + pipeline drain) cycles (bcrnn.hls_lstm.lstm_interval) and its neighbours need no segment-deep
    // FIFOs; the three buffers become ping-pong pairs (twice the memory, counted in the layer's estimates)
#pragma HLS DATAFLOW
    ap_uint<D> seq[T];                              // the input sequence, read by both directions
    ap_uint<H> hf[T], hb[T];                        // forward and backward hidden bits per frame
    // ping-pong channels whatever the tool version's default: hf is written and read in order, and a FIFO
    // shallower than T would deadlock (the writer cannot start before the backward direction's last step)
#pragma HLS STREAM variable = seq type = pipo
#pragma HLS STREAM variable = hf type = pipo
#pragma HLS STREAM variable = hb type = pipo
    // The buffers: block RAM by default; with BCRNN_LSTM_BUFFERS_LUTRAM defined before this header (the FINN
    // layer's buffer_ram_style = distributed) LUTRAM (RAM64M: 4 LUTs per 3 bits x 64 frames) instead of blocks
    // whose 512 rows the usual T (150) fills to a third
#ifdef BCRNN_LSTM_BUFFERS_LUTRAM
#pragma HLS BIND_STORAGE variable = seq type = ram_2p impl = lutram
#pragma HLS BIND_STORAGE variable = hf type = ram_2p impl = lutram
#pragma HLS BIND_STORAGE variable = hb type = ram_2p impl = lutram
#else
#pragma HLS BIND_STORAGE variable = seq type = ram_2p impl = bram
#pragma HLS BIND_STORAGE variable = hf type = ram_2p impl = bram
#pragma HLS BIND_STORAGE variable = hb type = ram_2p impl = bram
#endif

    ReadSequence<D, T>(in, seq);
    BothDirections<D, H, T, SIMD, PE, MW, BW, Q, K, G, C, F>(seq, hf, hb, fwd_weights, fwd_mult, fwd_offset,
                                                             bwd_weights, bwd_mult, bwd_offset, sigmoid, tanh);
    WriteSequence<H, T>(hf, hb, out);
}

}  // namespace bcrnn

#endif  // BCRNN_BINARY_LSTM_HPP
