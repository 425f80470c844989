`resetall
`timescale 1ns / 1ps
`default_nettype none

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
// Pipeline of one fold (PE classes): XNOR with the weight ROM (LUTs); the popcount as an adder tree over the
// NG = ceil(NI / 4) counts of 4 bits (plain logic), LV = clog2(NG) levels, two per register stage (NST =
// ceil(LV / 2) stages); dot = 2 popcount - NI; the product M dot (its operands and result registered, for a DSP
// multiplier); logit = product + B; then, from registers, the running first maximum and the collected logits, the
// last fold also into the output register. The whole pipeline stalls only while a finished vector finds the output
// register still full.
//
// Timing: the input is held in a register while its CF folds issue, one per cycle; the next input is accepted the
// cycle after its last fold issues. Back to back: one vector per CF + 1 cycles; from the accepted input beat to the
// output beat CF + NST + 5 cycles (1 to accept, CF folds, the XNOR, NST tree stages, dot, product and logit stages,
// then the output register).
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
    input  wire                   clk,
    input  wire                   rst_n,             // synchronous, active low
    input  wire  [NI-1:0]         s_tdata,
    input  wire                   s_tvalid,
    output logic                  s_tready,
    output logic [LBW+C*LW-1:0]   m_tdata,
    output logic                  m_tvalid,
    input  wire                   m_tready
);
    localparam int CF  = C / PE;
    localparam int CFW = (CF > 1) ? $clog2(CF) : 1;
    localparam int DW  = $clog2(NI + 1) + 1;                   // dot in [-NI, NI] (signed)
    localparam int PDW = MW + DW;                              // exact M dot (signed)
    localparam int LW1 = LW + 1;
    localparam int XW  = ((PDW > BW) ? PDW : BW) + 1;          // exact M dot + B (signed)
    localparam int NG  = (NI + 3) / 4;                         // popcounts of 4 bits
    localparam int GW  = $clog2(NI + 1);                       // a popcount of up to NI bits (unsigned)
    localparam int LV  = (NG > 1) ? $clog2(NG) : 1;            // tree levels
    localparam int NST = (LV + 1) / 2;                         // tree register stages, two levels each
    localparam int TRW = PE * NG * GW;                         // one tree stage: sum i of lane p at [(p*NG + i)*GW +: GW]
    localparam int NS  = NST + 4;                              // stages: XNOR, NST tree, dot, product, logit
    localparam int TG  = 2 + LBW + CFW;                        // a fold's tag: first, last, class of lane 0, fold

    initial if (C % PE != 0) $fatal(1, "output_argmax: PE (%0d) must divide C (%0d)", PE, C);

    (* rom_style = "logic" *) logic [NI-1:0]  wmem [0:C-1];
    (* rom_style = "logic" *) logic [MW-1:0]  mmem [0:C-1];
    (* rom_style = "logic" *) logic [BW-1:0]  bmem [0:C-1];
    initial begin
        if (WEIGHT_FILE != "") $readmemh(WEIGHT_FILE, wmem);
        if (MULT_FILE != "")   $readmemh(MULT_FILE, mmem);
        if (OFFSET_FILE != "") $readmemh(OFFSET_FILE, bmem);
    end

    // ones in 4 bits as plain logic (one LUT4 per bit), not an adder chain
    function automatic logic [2:0] ones4(input logic [3:0] g);
        logic [1:0] a, b;
        logic       c;
        a = {g[0] & g[1], g[0] ^ g[1]};
        b = {g[2] & g[3], g[2] ^ g[3]};
        c = a[0] & b[0];
        return {(a[1] & b[1]) | (c & (a[1] ^ b[1])), a[1] ^ b[1] ^ c, a[0] ^ b[0]};
    endfunction

    // one tree level l (1 .. LV): sum i = sums 2i and 2i + 1 of level l - 1 (the last one alone when odd)
    function automatic logic [TRW-1:0] tree_level(input logic [TRW-1:0] cur, input int l);
        logic [TRW-1:0] nxt;
        logic [GW-1:0]  b;
        nxt = '0;
        for (int p = 0; p < PE; p++) begin
            for (int i = 0; i < NG; i++) begin
                if (i < ((NG + (1 << l) - 1) >> l)) begin
                    if (2*i + 1 < ((NG + (1 << (l - 1)) - 1) >> (l - 1)))
                        b = cur[(p*NG + 2*i + 1)*GW +: GW];
                    else
                        b = '0;
                    nxt[(p*NG + i)*GW +: GW] = cur[(p*NG + 2*i)*GW +: GW] + b;
                end
            end
        end
        return nxt;
    endfunction

    // input register and fold counter
    logic [NI-1:0]   xbuf;
    logic            run;       // xbuf holds an input whose folds are being issued
    logic [CFW-1:0]  cf;
    logic            adv;       // the pipeline moves (all its registers share this enable)

    assign s_tready = !run;

    // per stage k = 1 .. NS: valid v[k] and tag [(k-1)*TG +: TG] = {fold, class of lane 0, last, first}
    logic [NS:1]        v;
    logic [NS*TG-1:0]   tag;
    logic [TG-1:0]      tag_in;
    assign tag_in = {cf, LBW'(cf * PE), cf == CFW'(CF - 1), cf == '0};

    logic [CFW-1:0]     cf_m, cf_p;          // fold entering the dot stage (M read) and the product stage (B read)
    logic               first_l, last_l;     // logit stage
    logic [LBW-1:0]     base_l;
    assign cf_m    = tag[(NS-4)*TG + 2 + LBW +: CFW];
    assign cf_p    = tag[(NS-3)*TG + 2 + LBW +: CFW];
    assign first_l = tag[(NS-1)*TG];
    assign last_l  = tag[(NS-1)*TG + 1];
    assign base_l  = tag[(NS-1)*TG + 2 +: LBW];

    // a finished vector may only leave the logit stage into an empty output register
    assign adv = !(v[NS] && last_l && m_tvalid);

    logic [PE*NI-1:0]     xn1;               // stage 1: XNOR(x, w) of each lane
    logic [NST*TRW-1:0]   tree;              // stages 2 .. NST + 1
    logic [PE*DW-1:0]     dot;               // stage NST + 2, with the multipliers
    logic [PE*MW-1:0]     mult;
    logic [PE*PDW-1:0]    prod;              // stage NST + 3, with the offsets
    logic [PE*BW-1:0]     offs;
    logic [PE*LW-1:0]     logit;             // stage NST + 4 = NS

    always_ff @(posedge clk) begin
        if (!rst_n) begin
            run <= 1'b0; cf <= '0; v <= '0; m_tvalid <= 1'b0;
        end else begin
            if (s_tvalid && !run) run <= 1'b1;
            if (adv) begin
                v <= {v[NS-1:1], run};
                if (run) begin
                    if (cf == CFW'(CF - 1)) begin
                        run <= 1'b0;
                        cf  <= '0;
                    end else begin
                        cf <= cf + 1'b1;
                    end
                end
            end
            if (m_tvalid && m_tready) m_tvalid <= 1'b0;
            if (adv && v[NS] && last_l) m_tvalid <= 1'b1;
        end
    end

    // datapath registers without reset
    always_ff @(posedge clk) begin
        if (s_tvalid && s_tready) xbuf <= s_tdata;
        if (adv) begin
            logic [NG*4-1:0]  xp;            // one lane's XNOR, zero-padded to whole groups
            logic [TRW-1:0]   cur;
            logic [GW-1:0]    pc;
            tag <= {tag[(NS-1)*TG-1:0], tag_in};
            for (int p = 0; p < PE; p++)
                xn1[p*NI +: NI] <= ~(xbuf ^ wmem[cf*PE + p]);
            for (int s = 0; s < NST; s++) begin
                if (s == 0) begin
                    cur = '0;
                    for (int p = 0; p < PE; p++) begin
                        xp = '0;
                        xp[NI-1:0] = xn1[p*NI +: NI];
                        for (int g = 0; g < NG; g++)
                            cur[(p*NG + g)*GW +: GW] = GW'(ones4(xp[g*4 +: 4]));
                    end
                end else begin
                    cur = tree[(s-1)*TRW +: TRW];
                end
                for (int k = 1; k <= 2; k++)
                    if (2*s + k <= LV && NG > 1) cur = tree_level(cur, 2*s + k);
                tree[s*TRW +: TRW] <= cur;
            end
            for (int p = 0; p < PE; p++) begin
                pc = tree[(NST-1)*TRW + p*NG*GW +: GW];
                dot[p*DW +: DW]    <= (DW'(pc) << 1) - DW'(NI);
                mult[p*MW +: MW]   <= mmem[cf_m*PE + p];
                prod[p*PDW +: PDW] <= PDW'($signed(mult[p*MW +: MW]) * $signed(dot[p*DW +: DW]));
                offs[p*BW +: BW]   <= bmem[cf_p*PE + p];
                logit[p*LW +: LW]  <= LW'(XW'($signed(prod[p*PDW +: PDW])) + XW'($signed(offs[p*BW +: BW])));
            end
        end
    end

    // the running first maximum over the folds and the collected logits (folds shift in from the top)
    logic signed [LW-1:0] best;
    logic [LBW-1:0]       best_idx;
    logic signed [LW-1:0] best_next;
    logic [LBW-1:0]       best_idx_next;
    logic [C*LW-1:0]      logits;
    always_comb begin
        logic signed [LW:0] diff;            // best - logit: one carry chain, its sign is logit > best
        best_next     = best;
        best_idx_next = best_idx;
        for (int p = 0; p < PE; p++) begin
            diff = LW1'(best_next) - LW1'($signed(logit[p*LW +: LW]));
            if ((first_l && p == 0) || diff < 0) begin   // strict: the first maximum stays
                best_next     = logit[p*LW +: LW];
                best_idx_next = base_l + LBW'(p);
            end
        end
    end

    logic [C*LW-1:0] logits_next;
    generate
        if (C > PE) begin : g_shift
            assign logits_next = {logit, logits[C*LW-1:PE*LW]};
        end else begin : g_one
            assign logits_next = logit;
        end
    endgenerate

    // the maximum also moves while a finished vector waits for the output register: taking the same logits again
    // leaves it unchanged (strict compare), and its enable stays off the stall logic
    always_ff @(posedge clk) begin
        if (v[NS]) begin
            best     <= best_next;
            best_idx <= best_idx_next;
        end
        if (adv && v[NS]) begin
            logits <= logits_next;
            if (last_l) m_tdata <= {logits_next, best_idx_next};
        end
    end
endmodule

`resetall
