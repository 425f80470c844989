// Synthesis top of the binary BiLSTM kernel: BinaryBiLSTM (binary_lstm.hpp) instantiated with the sizes, folding,
// weights and tables of params.h (bcrnn.hls_lstm.write_params_header or `python -m bcrnn.hls_lstm`).
// AXI4-Stream in (T words of LSTM_D bits per sequence) and out (T words of 2 LSTM_H bits), free-running.
// Vitis HLS pads AXI4-Stream data to whole bytes: LSTM_D and 2 LSTM_H should be multiples of 8 (they are for the
// tiny, small and paper presets).

#include "params.h"
#include "binary_lstm.hpp"

void binary_lstm_top(hls::stream<ap_uint<LSTM_D> > &in, hls::stream<ap_uint<2 * LSTM_H> > &out) {
#pragma HLS INTERFACE axis port = in
#pragma HLS INTERFACE axis port = out
#pragma HLS INTERFACE ap_ctrl_none port = return
    bcrnn::BinaryBiLSTM<LSTM_D, LSTM_H, LSTM_T, LSTM_SIMD, LSTM_PE, LSTM_MULT_BITS, LSTM_OFFSET_BITS, LSTM_P, LSTM_Q,
                        LSTM_K, LSTM_G, LSTM_C, LSTM_F>(in, out, lstm_fwd_weights, lstm_fwd_mult, lstm_fwd_offset,
                                                        lstm_bwd_weights, lstm_bwd_mult, lstm_bwd_offset,
                                                        lstm_sigmoid, lstm_tanh);
}
