// mvu_control: the sequencing that mvu_int8 and xnor_mvu share (their datapaths differ, their folding does not).
//
// A vector waits in the block's input buffer (xbuf_full) until the work buffer is free; `load` moves it there
// (the block copies xbuf to work and frees xbuf). The work vector is then issued NF*SF times, one (row fold nf,
// input fold sf) tile per cycle, sf fastest; `a0` = nf*SF + sf addresses the weight ROM. Each issued tile walks a
// 4-stage pipeline whose tags come out here: stage 1 (the block registers weights and inputs), 2 and 3 (its sums,
// threshold ROM read with nf2), 4 (accumulate: f3 = the row fold's first tile restarts the sum, l3 = its last
// finishes the row; v3 = a tile is in stage 4). final3 = the vector's last tile: the block registers its output
// beat in that cycle, and m_tvalid rises. The whole pipeline stalls (en low) only when a finished vector finds
// the output register still full.
module mvu_control #(
    parameter int NF = 1,               // row folds
    parameter int SF = 1,               // input folds
    parameter int NFB = (NF > 1) ? $clog2(NF) : 1,   // derived widths (not to be set)
    parameter int SFB = (SF > 1) ? $clog2(SF) : 1,
    parameter int AB = (NF * SF > 1) ? $clog2(NF * SF) : 1
) (
    input  logic           clk,
    input  logic           rst_n,
    input  logic           xbuf_full,   // a whole input vector waits in the block's input buffer
    output logic           load,        // move it to the work buffer this cycle
    output logic           en,          // the pipeline advances
    output logic [AB-1:0]  a0,          // tile being issued: weight ROM word
    output logic [SFB-1:0] sf0,         // its input fold
    output logic           f1,          // stage-1 tags of the tile issued last cycle
    output logic           l1,
    output logic [NFB-1:0] nf1,
    output logic [NFB-1:0] nf2,         // stage 2: threshold ROM word
    output logic           v3,          // stage 4
    output logic           f3,
    output logic           l3,
    output logic [NFB-1:0] nf3,
    output logic           final3,
    output logic           m_tvalid,
    input  logic           m_tready
);
    logic work_valid, issue, last0, v1, v2, f2, l2;
    logic [NFB-1:0] nf0;
    assign last0 = (a0 == AB'(NF * SF - 1));
    assign issue = work_valid && en;
    assign load = xbuf_full && (!work_valid || (issue && last0));
    assign final3 = v3 && l3 && (nf3 == NFB'(NF - 1));
    assign en = !(final3 && m_tvalid && !m_tready);

    always_ff @(posedge clk) begin
        if (en) begin
            f1 <= (sf0 == '0);
            l1 <= (sf0 == SFB'(SF - 1));
            nf1 <= nf0;
            f2 <= f1;
            l2 <= l1;
            nf2 <= nf1;
            f3 <= f2;
            l3 <= l2;
            nf3 <= nf2;
        end
    end

    always_ff @(posedge clk) begin
        if (!rst_n) begin
            work_valid <= 1'b0;
            a0 <= '0;
            nf0 <= '0;
            sf0 <= '0;
            v1 <= 1'b0;
            v2 <= 1'b0;
            v3 <= 1'b0;
            m_tvalid <= 1'b0;
        end else begin
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
