`resetall
`timescale 1ns / 1ps
`default_nettype none

// mvu_control: the sequencing and the output of mvu_int8 and xnor_mvu (their datapaths differ, their folding does
// not).
//
// A vector waits in the block's input buffer (xbuf_full) until the work buffer is free; `load` moves it there
// (the block copies xbuf to work and frees xbuf). The work vector is then issued NF*SF times, one (row fold nf,
// input fold sf) tile per cycle, sf fastest; `a0` = nf*SF + sf addresses the weight ROM. Each issued tile walks
// the block's pipeline: registers 1 .. DEPTH (weights and inputs, registered more than once, then the block's
// sums), the accumulator (register DEPTH+1), then the output. The tags come out here:
//   nft          register DEPTH-3's row fold: the threshold ROM word, so that a threshold passes the ROM's output
//                and three more registers (room for the distance from a block RAM, and the block's own step)
//                before the compare
//   va, fa       register DEPTH holds a tile (va), the first of its row fold (fa: the sum restarts): accumulate
//   vc           the accumulator holds a whole row fold (its last tile was added): threshold it
//   final_c      ... and it is the vector's last row fold: `beat` (the block's finished output vector) is taken
// The datapath never stalls (no enable reaches its thousands of registers): a vector enters the work buffer only
// while fewer than SLOTS vectors are between the work buffer and the consumer, and SLOTS output registers (m_tdata
// and a queue of SLOTS-1 behind it) can hold them all. SLOTS covers the pipeline's depth at one vector per PERIOD
// cycles, so an always-ready consumer never holds the engine back. `load` is one gate of registers; m_tready
// reaches only the output registers and the credit count.
module mvu_control #(
    parameter int NF = 1,               // row folds
    parameter int SF = 1,               // input folds
    parameter int DEPTH = 4,            // the pipeline register that feeds the accumulator (>= 4)
    parameter int PERIOD = 2,           // steady-state cycles per vector, max(NF*SF, beats per vector, 2)
    parameter int OW = 1,               // output beat width
    parameter int NFB = (NF > 1) ? $clog2(NF) : 1,   // derived widths (not to be set)
    parameter int SFB = (SF > 1) ? $clog2(SF) : 1,
    parameter int AB = (NF * SF > 1) ? $clog2(NF * SF) : 1
) (
    input  logic           clk,
    input  logic           rst_n,
    input  logic           xbuf_full,   // a whole input vector waits in the block's input buffer
    output logic           load,        // move it to the work buffer this cycle
    output logic [AB-1:0]  a0,          // tile being issued: weight ROM word
    output logic [SFB-1:0] sf0,         // its input fold
    output logic [NFB-1:0] nft,         // threshold ROM word (row fold in register DEPTH-3)
    output logic           va,          // accumulate (register DEPTH)
    output logic           fa,
    output logic           vc,          // threshold (the accumulator)
    output logic           final_c,
    input  logic [OW-1:0]  beat,        // the finished output vector, taken when final_c
    output logic [OW-1:0]  m_tdata,
    output logic           m_tvalid,
    input  logic           m_tready
);
    localparam int NPW = (DEPTH - 3) * NFB;
    // a vector loaded in cycle L leaves at the earliest in L + NF*SF + DEPTH + 2 and frees its slot a cycle later
    localparam int SLOTS = 1 + (DEPTH + 3 + PERIOD - 1) / PERIOD;
    localparam int QD = SLOTS - 1;                      // queue behind m_tdata
    localparam int QB = (QD > 1) ? $clog2(QD) : 1;
    localparam int QNB = $clog2(QD + 1);
    localparam int OSB = $clog2(SLOTS + 1);

    initial if (NF < 1 || SF < 1 || DEPTH < 4 || PERIOD < 2 || OW < 1)
        $fatal(1, "mvu_control: need NF, SF, OW >= 1, DEPTH >= 4, PERIOD >= 2 (NF=%0d SF=%0d DEPTH=%0d PERIOD=%0d)",
               NF, SF, DEPTH, PERIOD);

    logic work_valid, issue;
    logic last0, sf_first, sf_last;     // a0 == NF*SF-1, sf0 == 0, sf0 == SF-1 (registers: no compare before load)
    logic [NFB-1:0] nf0;
    logic [OSB-1:0] outstanding;        // vectors loaded and not yet taken by the consumer
    logic           cred_full;          // outstanding == SLOTS
    // tags of pipeline registers 1 .. DEPTH+1 (bit i = register i): a tile, first / last tile of its row fold,
    // last tile of the vector; row folds of registers 1 .. DEPTH-3 (register i at [(i-1)*NFB +: NFB])
    logic [DEPTH+1:1] vt, ft, lt, et;
    logic [NPW-1:0] nfp;

    assign issue = work_valid;
    assign load = xbuf_full && !cred_full && (!work_valid || last0);
    assign nft = nfp[(DEPTH-4)*NFB +: NFB];
    assign va = vt[DEPTH];
    assign fa = ft[DEPTH];
    assign vc = vt[DEPTH+1] && lt[DEPTH+1];
    assign final_c = vt[DEPTH+1] && et[DEPTH+1];

    always_ff @(posedge clk) begin
        ft <= {ft[DEPTH:1], sf_first};
        lt <= {lt[DEPTH:1], sf_last};
        et <= {et[DEPTH:1], last0};
        nfp <= (nfp << NFB) | NPW'(nf0);
    end

    always_ff @(posedge clk) begin
        if (!rst_n) begin
            work_valid <= 1'b0;
            a0 <= '0;
            nf0 <= '0;
            sf0 <= '0;
            last0 <= (NF * SF == 1);
            sf_first <= 1'b1;
            sf_last <= (SF == 1);
            vt <= '0;
        end else begin
            if (load) work_valid <= 1'b1;
            else if (issue && last0) work_valid <= 1'b0;
            if (issue) begin
                a0 <= last0 ? '0 : a0 + 1'b1;
                last0 <= last0 ? (NF * SF == 1) : (a0 == AB'(NF * SF - 2));
                sf_first <= sf_last;
                if (sf_last) begin
                    sf0 <= '0;
                    sf_last <= (SF == 1);
                    nf0 <= (nf0 == NFB'(NF - 1)) ? '0 : nf0 + 1'b1;
                end else begin
                    sf0 <= sf0 + 1'b1;
                    sf_last <= (sf0 == SFB'(SF - 2));
                end
            end
            vt <= {vt[DEPTH:1], issue};
        end
    end

    // ---------------- output register m_tdata and the queue behind it ----------------
    logic [OW-1:0]  q [0:QD-1];
    logic [QB-1:0]  qrd, qwr;
    logic [QNB-1:0] qn;
    logic           q_empty;            // qn == 0
    logic out_free, leave, q_push, q_pop;
    assign out_free = !m_tvalid || m_tready;       // m_tdata takes a beat this cycle
    assign leave = m_tvalid && m_tready;
    assign q_pop = out_free && !q_empty;
    assign q_push = final_c && !(out_free && q_empty);

    always_ff @(posedge clk) begin
        if (q_push) q[qwr] <= beat;
        if (out_free) m_tdata <= q_empty ? beat : q[qrd];
    end

    always_ff @(posedge clk) begin
        logic [QNB-1:0] n;
        logic [OSB-1:0] o;
        if (!rst_n) begin
            m_tvalid <= 1'b0;
            qrd <= '0;
            qwr <= '0;
            qn <= '0;
            q_empty <= 1'b1;
            outstanding <= '0;
            cred_full <= 1'b0;
        end else begin
            if (out_free) m_tvalid <= !q_empty || final_c;
            if (q_push) qwr <= (qwr == QB'(QD - 1)) ? '0 : qwr + 1'b1;
            if (q_pop) qrd <= (qrd == QB'(QD - 1)) ? '0 : qrd + 1'b1;
            n = qn + QNB'(q_push) - QNB'(q_pop);
            qn <= n;
            q_empty <= (n == '0);
            o = outstanding + OSB'(load) - OSB'(leave);
            outstanding <= o;
            cred_full <= (o == OSB'(SLOTS));
        end
    end
endmodule

`resetall
