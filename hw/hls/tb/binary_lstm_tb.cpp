// C-simulation test bench of the binary BiLSTM kernel (hw/hls/binary_lstm.hpp) with the parameters of params.h
// (written by bcrnn.hls_lstm). Built and run by bcrnn.hls_lstm.run_csim:
//
//   g++ -std=c++14 -O2 -isystem <ap_types> -I <dir of params.h> -I hw/hls tb/binary_lstm_tb.cpp -o tb
//   ./tb input.txt output.txt
//
// input.txt:  "B T D" then B * T lines of D characters '0' / '1' (character j = input bit j of the frame)
// output.txt: "B T 2H" then B * T lines of 2H characters (0 .. H-1 forward h_t, H .. 2H-1 backward h_t)
// Every sequence goes through the kernel's streams on its own (one call per sequence), as in hardware.

#include <fstream>
#include <iostream>
#include <string>

#include "params.h"
#include "binary_lstm.hpp"

int main(int argc, char **argv) {
    if (argc != 3) {
        std::cerr << "usage: " << argv[0] << " input.txt output.txt\n";
        return 2;
    }
    std::ifstream fin(argv[1]);
    unsigned batch = 0, frames = 0, width = 0;
    if (!(fin >> batch >> frames >> width)) {
        std::cerr << "cannot read the header of " << argv[1] << "\n";
        return 2;
    }
    if (frames != LSTM_T || width != LSTM_D) {
        std::cerr << "input has T=" << frames << " D=" << width << ", the kernel was built for T=" << LSTM_T
                  << " D=" << LSTM_D << "\n";
        return 2;
    }
    std::ofstream fout(argv[2]);
    fout << batch << " " << LSTM_T << " " << 2 * LSTM_H << "\n";
    for (unsigned b = 0; b < batch; b++) {
        hls::stream<ap_uint<LSTM_D> > in("in");
        hls::stream<ap_uint<2 * LSTM_H> > out("out");
        for (unsigned t = 0; t < LSTM_T; t++) {
            std::string line;
            if (!(fin >> line) || line.size() != LSTM_D) {
                std::cerr << "sequence " << b << " frame " << t << ": expected " << LSTM_D << " bits\n";
                return 2;
            }
            ap_uint<LSTM_D> word = 0;
            for (unsigned j = 0; j < LSTM_D; j++) word[j] = line[j] == '1' ? 1 : 0;
            in.write(word);
        }
        // the statement bcrnn.hls_lstm.kernel_call("in", "out") generates
        bcrnn::BinaryBiLSTM<LSTM_D, LSTM_H, LSTM_T, LSTM_SIMD, LSTM_PE, LSTM_MULT_BITS, LSTM_OFFSET_BITS, LSTM_P,
                            LSTM_Q, LSTM_K, LSTM_G, LSTM_C, LSTM_F>(
            in, out, lstm_fwd_weights, lstm_fwd_mult, lstm_fwd_offset, lstm_bwd_weights, lstm_bwd_mult,
            lstm_bwd_offset, lstm_sigmoid, lstm_tanh);
        if (!in.empty() || out.size() != LSTM_T) {
            std::cerr << "sequence " << b << ": the kernel left " << in.size() << " input words and wrote "
                      << out.size() << " of " << LSTM_T << " output words\n";
            return 1;
        }
        for (unsigned t = 0; t < LSTM_T; t++) {
            const ap_uint<2 * LSTM_H> word = out.read();
            std::string line(2 * LSTM_H, '0');
            for (unsigned j = 0; j < 2 * LSTM_H; j++) line[j] = word[j] ? '1' : '0';
            fout << line << "\n";
        }
    }
    fout.close();
    if (!fout) {
        std::cerr << "cannot write " << argv[2] << "\n";
        return 2;
    }
    return 0;
}
