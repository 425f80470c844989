// output_argmax: the BCRNN's output layer and decision (docs/numeric_spec.md, "output").
//
// Input: one beat of NI bits (the FC layer's output; bit 1 = +1, 0 = -1).
// Per class c: dot_c = 2 popcount(XNOR(x, w_c)) - NI, logit_c = M_c dot_c + B_c (signed, scale 2^-16);
// label = the index of the largest logit, the FIRST one on ties (as numpy.argmax). bcrnn.reference:
// `logits = out_mult * xnor_popcount_dot(fc, out_weight_bits) + out_offset`, label = `np.argmax(logits)`.
//
// Output: one beat of LBW + C * LW bits:
//   m_tdata[LBW-1:0]           = label (unsigned, LBW = max(1, clog2(C)) bits)
//   m_tdata[LBW + c*LW +: LW]  = logit_c (two's complement), c = 0 .. C-1
// LW must hold every logit (bcrnn.rtl.head_files.write_output_files picks it from the parameters).
//
// Folding: PE classes per cycle (PE must divide C; C = 7 allows 1 and 7), CF = C / PE class folds.
// ROMs ($readmemh, hex, one line per class, independent of PE; bcrnn.rtl.head_files.write_output_files):
//   WEIGHT_FILE: C words of NI bits (bit j of word c = weight bit of input j for class c)
//   MULT_FILE:   C words of MW bits (M_c, two's complement)
//   OFFSET_FILE: C words of BW bits (B_c, two's complement)
//
// Timing: the input is held in a register while the CF folds issue, one per cycle (XNOR-popcount into a
// register, then multiply-add and the running first-maximum); the output register is separate, so a result waits
// there for m_tready while the next input is computed. Cycles per vector at full rate: CF + 3 (1 to accept,
// CF folds, 1 for the pipeline, 1 to move the result into the output register); the same latency.
module output_argmax #(
    parameter int NI = 64,                           // input bits
    parameter int C  = 7,                            // classes
    parameter int PE = 1,                            // classes per cycle
    parameter int MW = 24,                           // multiplier width (signed)
    parameter int BW = 24,                           // offset width (signed)
    parameter int LW = 32,                           // logit width (signed)
    parameter int LBW = (C > 1) ? $clog2(C) : 1,     // label width
    parameter WEIGHT_FILE = "",
    parameter MULT_FILE   = "",
    parameter OFFSET_FILE = ""
) (
    input  logic                  clk,
    input  logic                  rst_n,             // synchronous, active low
    input  logic [NI-1:0]         s_tdata,
    input  logic                  s_tvalid,
    output logic                  s_tready,
    output logic [LBW+C*LW-1:0]   m_tdata,
    output logic                  m_tvalid,
    input  logic                  m_tready
);
    localparam int CF  = C / PE;
    localparam int CFW = (CF > 1) ? $clog2(CF) : 1;
    localparam int DW  = $clog2(NI + 1) + 1;                   // dot in [-NI, NI] (signed)
    localparam int XW  = ((MW + DW > BW) ? MW + DW : BW) + 1;  // exact M dot + B (signed)

    logic [NI-1:0]  wmem [0:C-1];
    logic [MW-1:0]  mmem [0:C-1];
    logic [BW-1:0]  bmem [0:C-1];
    initial begin
        if (C % PE != 0) begin
            $display("output_argmax: PE (%0d) must divide C (%0d)", PE, C);
            $finish;
        end
        if (WEIGHT_FILE != "") $readmemh(WEIGHT_FILE, wmem);
        if (MULT_FILE != "")   $readmemh(MULT_FILE, mmem);
        if (OFFSET_FILE != "") $readmemh(OFFSET_FILE, bmem);
    end

    function automatic logic [DW-1:0] bipolar_dot(input logic [NI-1:0] x, input logic [NI-1:0] w);
        logic [NI-1:0] same;
        logic [DW-1:0] agree;
        same  = ~(x ^ w);
        agree = '0;
        for (int j = 0; j < NI; j++)
            agree = agree + DW'(same[j]);
        return (agree << 1) - DW'(NI);
    endfunction

    // input register and fold counter
    logic [NI-1:0]   xbuf;
    logic            busy, run, done;
    logic [CFW-1:0]  cf;

    assign s_tready = !busy;

    // stage 1: dots, multipliers and offsets of the fold's PE classes
    logic                 v1, first1, last1;
    logic [PE*DW-1:0]     dot1;
    logic [PE*MW-1:0]     m1;
    logic [PE*BW-1:0]     b1;

    // stage 2: logits (folds shift in from the top) and the running first maximum
    logic [C*LW-1:0]      logits;
    logic signed [LW-1:0] best;
    logic [LBW-1:0]       best_idx;
    logic [PE*LW-1:0]     fold_logits;
    logic signed [LW-1:0] best_next;
    logic [LBW-1:0]       best_idx_next;
    logic [LBW-1:0]       base_idx;          // class index of lane 0 in the stage-2 fold

    always_comb begin
        best_next     = best;
        best_idx_next = best_idx;
        for (int p = 0; p < PE; p++) begin
            logic signed [XW-1:0] l;
            l = $signed(m1[p*MW +: MW]) * $signed(dot1[p*DW +: DW]) + XW'($signed(b1[p*BW +: BW]));
            fold_logits[p*LW +: LW] = LW'(l);
            if ((first1 && p == 0) || $signed(LW'(l)) > best_next) begin   // strict: the first maximum stays
                best_next     = LW'(l);
                best_idx_next = base_idx + LBW'(p);
            end
        end
    end

    logic [C*LW-1:0] logits_next;
    generate
        if (C > PE) begin : g_shift
            assign logits_next = {fold_logits, logits[C*LW-1:PE*LW]};
        end else begin : g_one
            assign logits_next = fold_logits;
        end
    endgenerate

    always_ff @(posedge clk) begin
        if (!rst_n) begin
            busy <= 1'b0; run <= 1'b0; done <= 1'b0; cf <= '0; v1 <= 1'b0; m_tvalid <= 1'b0;
        end else begin
            if (s_tvalid && !busy) begin
                busy <= 1'b1;
                run  <= 1'b1;
                cf   <= '0;
            end
            v1 <= run;
            if (run) begin
                first1 <= (cf == '0);
                last1  <= (cf == CFW'(CF - 1));
                if (cf == CFW'(CF - 1)) run <= 1'b0;
                else cf <= cf + 1'b1;
            end
            if (v1 && last1) done <= 1'b1;
            if (m_tvalid && m_tready) m_tvalid <= 1'b0;
            if (done && (!m_tvalid || m_tready)) begin
                m_tvalid <= 1'b1;
                done     <= 1'b0;
                busy     <= 1'b0;
            end
        end
    end

    always_ff @(posedge clk) begin
        if (s_tvalid && s_tready) xbuf <= s_tdata;
        if (run) begin
            base_idx <= LBW'(cf * PE);
            for (int p = 0; p < PE; p++) begin
                dot1[p*DW +: DW] <= bipolar_dot(xbuf, wmem[cf*PE + p]);
                m1[p*MW +: MW]   <= mmem[cf*PE + p];
                b1[p*BW +: BW]   <= bmem[cf*PE + p];
            end
        end
        if (v1) begin
            logits   <= logits_next;
            best     <= best_next;
            best_idx <= best_idx_next;
        end
        if (done && (!m_tvalid || m_tready)) m_tdata <= {logits, best_idx};
    end
endmodule
