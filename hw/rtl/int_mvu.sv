`resetall
`timescale 1ns / 1ps
`default_nettype none

// int_mvu: the BCRNN's FC layer (docs/numeric_spec.md, "FC"): signed integers x +-1 weights, then thresholds.
//
// Input: one beat per vector, N signed IW-bit integers, x_j at s_tdata[j*IW +: IW] (time_sum's output).
// Output: one beat of MH bits; bit r = acc_r >= T_r (direction +1) or acc_r <= T_r (direction -1), where
// acc_r = sum_j x_j w_rj and w_rj = +1 for weight bit 1, -1 for bit 0. bcrnn.reference:
// `threshold(pooled @ (2 * fc_weight_bits - 1).T, fc_threshold, fc_direction, 0)`.
//
// Folding: PE rows in parallel, SIMD inputs per cycle; NF = MH / PE row folds, SF = N / SIMD column folds
// (PE must divide MH and SIMD must divide N). Row r = nf * PE + p is computed by PE lane p in row fold nf.
// ROMs ($readmemh, hex, bcrnn.rtl.head_files.write_fc_files writes them):
//   WEIGHT_FILE: NF * SF words of PE * SIMD bits; word nf * SF + sf, bit p * SIMD + s = weight bit of
//                row nf * PE + p, column sf * SIMD + s.
//   THRESH_FILE: NF words of PE * TW bits; word nf, bits [p * TW +: TW] = T of row nf * PE + p (two's complement).
//   DIR_FILE:    NF words of PE bits; word nf, bit p = 1 for direction +1 (acc >= T), 0 for -1 (acc <= T).
//
// Datapath: a weight of -1 turns x into ~x = -x - 1, so a fold's row sum is the sum of SIMD such terms plus the
// count of -1 weights, counted per group of 4 weights (NC = ceil(SIMD / 4) counts); these SIMD + NC values go
// through an adder tree of LV = clog2(SIMD + NC) levels, one register stage per level. Pipeline of one fold: ROM
// address and input slice registered (the lookup starts from a register, not from the counters' adders), weight
// word registered, LV tree levels, accumulator (with the row's threshold and direction); the compare of a finished
// row reads registers only and shifts its PE bits into the collected output, the last row fold also into the output
// register. The whole pipeline stalls only while a finished vector finds the output register still full. The ROMs
// are LUTs: an ECP5 block RAM's output (no output register from Yosys) alone takes most of an 8 ns cycle.
//
// Timing: the input vector is held in a register while its NF * SF folds issue, one per cycle; the next vector is
// accepted the cycle after its last fold issues. Back to back: one vector per NF * SF + 1 cycles; from the
// accepted input beat to the output beat NF * SF + LV + 4 cycles (1 to accept, NF * SF folds, 2 ROM stages, LV
// tree levels, 1 to accumulate, then the output register).
module int_mvu #(
    parameter int N    = 128,                        // inputs per vector
    parameter int MH   = 64,                         // outputs (rows)
    parameter int IW   = 9,                          // input width (signed)
    parameter int PE   = 4,                          // rows in parallel
    parameter int SIMD = 16,                         // inputs per cycle
    parameter int AW   = IW + $clog2(N) + 1,         // accumulator width (signed): holds N * 2^(IW-1)
    parameter int TW   = AW,                         // threshold width (signed)
    parameter WEIGHT_FILE = "",
    parameter THRESH_FILE = "",
    parameter DIR_FILE    = ""
) (
    input  wire             clk,
    input  wire             rst_n,                   // synchronous, active low
    input  wire  [N*IW-1:0] s_tdata,
    input  wire             s_tvalid,
    output logic            s_tready,
    output logic [MH-1:0]   m_tdata,
    output logic            m_tvalid,
    input  wire             m_tready
);
    localparam int NF  = MH / PE;
    localparam int SF  = N / SIMD;
    localparam int NFW = (NF > 1) ? $clog2(NF) : 1;
    localparam int SFW = (SF > 1) ? $clog2(SF) : 1;
    localparam int AD  = NF * SF;
    localparam int ADW = (AD > 1) ? $clog2(AD) : 1;
    localparam int PW  = IW + 1 + ((SIMD > 1) ? $clog2(SIMD) : 0);   // one fold's row sum (signed)
    localparam int CW  = ((AW > TW) ? AW : TW) + 1;                    // comparison width (signed)
    localparam int NC  = (SIMD + 3) / 4;             // counts of -1 weights, one per group of 4
    localparam int WZ  = NC * 4;
    localparam int E   = SIMD + NC;                  // tree inputs per row: SIMD terms and NC counts
    localparam int LV  = $clog2(E);                  // tree levels
    localparam int LVW = PE * E * PW;                // one level: entry i of lane p at [(p * E + i) * PW +: PW]
    localparam int NS  = LV + 3;                     // stages: ROM address, ROM read, LV tree levels, accumulator
    localparam int TG  = 3 + NFW;                    // a fold's tag: first, last (of its row), end (of the vector), nf
    localparam int XSW = SIMD * IW;                  // one input slice
    localparam int XG  = (SF + 3) / 4;               // groups of 4 slices
    localparam int XGW = (XG > 1) ? $clog2(XG) : 1;

    initial if (MH % PE != 0 || N % SIMD != 0)
        $fatal(1, "int_mvu: PE (%0d) must divide MH (%0d) and SIMD (%0d) must divide N (%0d)", PE, MH, SIMD, N);

    // the ROMs
    (* rom_style = "logic" *) logic [PE*SIMD-1:0] wmem [0:AD-1];
    (* rom_style = "logic" *) logic [PE*TW-1:0]   tmem [0:NF-1];
    (* rom_style = "logic" *) logic [PE-1:0]      dmem [0:NF-1];
    initial begin
        if (WEIGHT_FILE != "") $readmemh(WEIGHT_FILE, wmem);
        if (THRESH_FILE != "") $readmemh(THRESH_FILE, tmem);
        if (DIR_FILE != "")    $readmemh(DIR_FILE, dmem);
    end

    // input register and fold counters (issue stage)
    logic [N*IW-1:0] xbuf;
    logic            run;       // xbuf holds a vector whose folds are being issued
    logic [NFW-1:0]  nf;
    logic [SFW-1:0]  sf;
    logic [ADW-1:0]  addr;
    logic            adv;       // the pipeline moves (all its registers share this enable): a register
    logic [PE-1:0]   adv_lane;  // copies of adv for the adder tree of each PE lane (thousands of flip-flops)
    localparam int XB  = (N + 15) / 16;              // groups of 16 inputs in xbuf, each loaded by its own copy
    logic [XB-1:0]   run_copy;  // copies of run, for the load enables of xbuf's groups

    assign s_tready = !run;

    // per stage k = 1 .. NS: valid v[k] and tag [(k-1)*TG +: TG]
    logic [NS:1]        v;
    logic [NS*TG-1:0]   tag;
    logic [TG-1:0]      tag_in;
    logic               last_fold;
    assign last_fold = (sf == SFW'(SF - 1)) && (nf == NFW'(NF - 1));
    assign tag_in    = {nf, last_fold, sf == SFW'(SF - 1), sf == '0};

    logic                 first_t, last_a, end_a;    // tree output (stage NS - 1), accumulator (stage NS)
    logic [NFW-1:0]       nf_t;
    assign first_t = tag[(NS-2)*TG];
    assign nf_t    = tag[(NS-2)*TG + 3 +: NFW];
    assign last_a  = tag[(NS-1)*TG + 1];
    assign end_a   = tag[(NS-1)*TG + 2];

    // a finished vector may only leave the accumulator stage into an empty output register:
    // adv = !(v[NS] && end_a && m_tvalid), computed a cycle ahead from the next values of those registers, so that
    // it and its copies are registers
    wire adv_next = !((adv ? v[NS-1] : v[NS]) && (adv ? tag[(NS-2)*TG + 2] : end_a)
                      && ((adv && v[NS] && end_a) || (m_tvalid && !m_tready)));
    wire run_next = run ? !(adv && last_fold) : s_tvalid;
    always_ff @(posedge clk) begin
        if (!rst_n) adv <= 1'b1;
        else        adv <= adv_next;
    end
    // kept apart: synthesis would merge the identical copies back into one net
    for (genvar p = 0; p < PE; p++) begin : g_adv
        (* keep *) always_ff @(posedge clk) begin
            if (!rst_n) adv_lane[p] <= 1'b1;
            else        adv_lane[p] <= adv_next;
        end
    end
    for (genvar g = 0; g < XB; g++) begin : g_run
        (* keep *) always_ff @(posedge clk) begin
            if (!rst_n) run_copy[g] <= 1'b0;
            else        run_copy[g] <= run_next;
        end
        localparam int LO = g * 16 * IW;
        localparam int HI = (g * 16 + 16 < N ? g * 16 + 16 : N) * IW;
        always_ff @(posedge clk) begin
            if (s_tvalid && !run_copy[g]) xbuf[HI-1:LO] <= s_tdata[HI-1:LO];
        end
    end

    // stage 1: ROM address and the input slices sf mod 4 of each group of 4 (xbuf is free for the next vector once
    // the last fold issued; two 4-way selections instead of one SF-way); stage 2: weight word and input slice
    logic [ADW-1:0]       addr1;
    logic [XG*XSW-1:0]    x1;
    logic [XGW-1:0]       xg1;      // group of sf
    logic [PE*SIMD-1:0]   w2;
    logic [XSW-1:0]       x2;
    logic [XG*4*XSW-1:0]  xpad;     // xbuf and zero slices up to whole groups
    generate
        if (XG * 4 > SF) begin : g_pad
            assign xpad = {{(XG*4 - SF)*XSW{1'b0}}, xbuf};
        end else begin : g_nopad
            assign xpad = xbuf;
        end
    endgenerate
    // tree levels 1 .. LV (level l at [(l-1)*LVW +: LVW]), then the accumulator stage
    logic [LV*LVW-1:0]  tree;
    logic [PE*AW-1:0]   acc;
    logic [PE*TW-1:0]   t_a;
    logic [PE-1:0]      d_a;
    logic [MH-1:0]      coll;

    always_ff @(posedge clk) begin
        if (!rst_n) begin
            run <= 1'b0; nf <= '0; sf <= '0; addr <= '0;
            v <= '0; m_tvalid <= 1'b0;
        end else begin
            run <= run_next;
            if (adv) begin
                v <= {v[NS-1:1], run};
                if (run) begin
                    if (last_fold) begin
                        run <= 1'b0; nf <= '0; sf <= '0; addr <= '0;
                    end else begin
                        addr <= addr + 1'b1;
                        if (sf == SFW'(SF - 1)) begin
                            sf <= '0;
                            nf <= nf + 1'b1;
                        end else begin
                            sf <= sf + 1'b1;
                        end
                    end
                end
            end
            if (m_tvalid && m_tready) m_tvalid <= 1'b0;
            if (adv && v[NS] && end_a) m_tvalid <= 1'b1;
        end
    end

    // datapath registers without reset
    always_ff @(posedge clk) begin
        if (adv) begin
            tag   <= {tag[(NS-1)*TG-1:0], tag_in};
            addr1 <= addr;
            for (int g = 0; g < XG; g++)
                x1[g*XSW +: XSW] <= xpad[(g*4 + int'(sf) % 4)*XSW +: XSW];
            xg1   <= XGW'(int'(sf) / 4);
            w2    <= wmem[addr1];
            x2    <= x1[xg1*XSW +: XSW];
            t_a   <= tmem[nf_t];
            d_a   <= dmem[nf_t];
        end
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

    // the adder tree: level 0 (the terms, from stage 2) is computed here, levels 1 .. LV are registers (lane p's
    // move with adv_lane[p], a copy of adv)
    always_ff @(posedge clk) begin
        begin
            logic [(LV+1)*LVW-1:0] src;
            logic [WZ-1:0]         wz;       // 1 for a -1 weight, zero-padded to whole groups
            logic [PW-1:0]         a, b;
            for (int p = 0; p < PE; p++) begin
                for (int s = 0; s < SIMD; s++)
                    src[(p*E + s)*PW +: PW] = PW'($signed(x2[s*IW +: IW])) ^ {PW{~w2[p*SIMD + s]}};
                wz = '0;
                wz[SIMD-1:0] = ~w2[p*SIMD +: SIMD];
                for (int c = 0; c < NC; c++)
                    src[(p*E + SIMD + c)*PW +: PW] = PW'(ones4(wz[c*4 +: 4]));
            end
            src[(LV+1)*LVW-1:LVW] = tree;
            for (int l = 1; l <= LV; l++) begin
                for (int p = 0; p < PE; p++) begin
                    for (int i = 0; i < E; i++) begin
                        if (i < ((E + (1 << l) - 1) >> l)) begin   // sums at level l: ceil(E / 2^l)
                            a = src[(l-1)*LVW + (p*E + 2*i)*PW +: PW];
                            if (2*i + 1 < ((E + (1 << (l - 1)) - 1) >> (l - 1)))
                                b = src[(l-1)*LVW + (p*E + 2*i + 1)*PW +: PW];
                            else
                                b = '0;
                            if (adv_lane[p]) tree[(l-1)*LVW + (p*E + i)*PW +: PW] <= a + b;
                        end
                    end
                end
            end
        end
    end

    // accumulator stage
    always_ff @(posedge clk) begin
        if (adv && v[NS-1]) begin
            for (int p = 0; p < PE; p++)
                acc[p*AW +: AW] <= (first_t ? AW'(0) : acc[p*AW +: AW])
                                   + AW'($signed(tree[(LV-1)*LVW + p*E*PW +: PW]));
        end
    end

    // threshold compare of a finished row (registers only), collected bits (row folds shift in from the top)
    logic [PE-1:0] bits;
    always_comb begin
        for (int p = 0; p < PE; p++) begin
            logic signed [CW-1:0] ac, tc;
            ac = CW'($signed(acc[p*AW +: AW]));
            tc = CW'($signed(t_a[p*TW +: TW]));
            bits[p] = d_a[p] ? (ac >= tc) : (ac <= tc);
        end
    end

    logic [MH-1:0] coll_next;
    generate
        if (MH > PE) begin : g_shift
            assign coll_next = {bits, coll[MH-1:PE]};
        end else begin : g_one
            assign coll_next = bits;
        end
    endgenerate

    always_ff @(posedge clk) begin
        if (adv && v[NS] && last_a) coll <= coll_next;
        if (adv && v[NS] && end_a) m_tdata <= coll_next;
    end
endmodule

`resetall
