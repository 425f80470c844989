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
// Timing: the input vector is held in a register while the NF * SF folds issue, one per cycle (registered ROM
// reads, then the SIMD-wide add and accumulation); the output register is separate, so a finished vector waits
// there for m_tready while the next one is read in and computed. Cycles per vector at full rate:
// NF * SF + 3 (1 to accept, NF * SF folds, 1 for the pipeline, 1 to move the bits into the output register);
// latency from the accepted input beat to m_tvalid: the same.
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
    input  logic            clk,
    input  logic            rst_n,                   // synchronous, active low
    input  logic [N*IW-1:0] s_tdata,
    input  logic            s_tvalid,
    output logic            s_tready,
    output logic [MH-1:0]   m_tdata,
    output logic            m_tvalid,
    input  logic            m_tready
);
    localparam int NF  = MH / PE;
    localparam int SF  = N / SIMD;
    localparam int NFW = (NF > 1) ? $clog2(NF) : 1;
    localparam int SFW = (SF > 1) ? $clog2(SF) : 1;
    localparam int AD  = NF * SF;
    localparam int ADW = (AD > 1) ? $clog2(AD) : 1;
    localparam int PW  = IW + 1 + ((SIMD > 1) ? $clog2(SIMD) : 0);   // one cycle's partial sum (signed)
    localparam int CW  = ((AW > TW) ? AW : TW) + 1;                    // comparison width (signed)

    // the ROMs
    logic [PE*SIMD-1:0] wmem [0:AD-1];
    logic [PE*TW-1:0]   tmem [0:NF-1];
    logic [PE-1:0]      dmem [0:NF-1];
    initial begin
        if (MH % PE != 0 || N % SIMD != 0) begin
            $display("int_mvu: PE (%0d) must divide MH (%0d) and SIMD (%0d) must divide N (%0d)", PE, MH, SIMD, N);
            $finish;
        end
        if (WEIGHT_FILE != "") $readmemh(WEIGHT_FILE, wmem);
        if (THRESH_FILE != "") $readmemh(THRESH_FILE, tmem);
        if (DIR_FILE != "")    $readmemh(DIR_FILE, dmem);
    end

    // input register and fold counters (issue stage)
    logic [N*IW-1:0] xbuf;
    logic            busy;      // xbuf holds a vector whose result is not yet in the output register
    logic            run;       // folds are being issued
    logic [NFW-1:0]  nf;
    logic [SFW-1:0]  sf;
    logic [ADW-1:0]  addr;
    logic            done;      // all rows of the vector are in `coll`

    assign s_tready = !busy;

    // stage 1: registered ROM words and the input slice of the fold
    logic                 v1, first1, last1, end1;
    logic [PE*SIMD-1:0]   w1;
    logic [PE*TW-1:0]     t1;
    logic [PE-1:0]        d1;
    logic [SIMD*IW-1:0]   x1;

    // stage 2: accumulators and the collected output bits (row folds shift in from the top)
    logic [PE*AW-1:0]     acc;
    logic [MH-1:0]        coll;
    logic [PE*AW-1:0]     acc_next;
    logic [PE-1:0]        bits;

    always_comb begin
        for (int p = 0; p < PE; p++) begin
            logic signed [PW-1:0] part;
            logic signed [AW-1:0] a;
            logic signed [CW-1:0] ac, tc;
            part = '0;
            for (int s = 0; s < SIMD; s++) begin
                logic signed [IW-1:0] xs;
                xs = x1[s*IW +: IW];
                if (w1[p*SIMD + s]) part = part + PW'(xs);
                else                part = part - PW'(xs);
            end
            a = first1 ? AW'(part) : $signed(acc[p*AW +: AW]) + AW'(part);
            acc_next[p*AW +: AW] = a;
            ac = CW'(a);
            tc = CW'($signed(t1[p*TW +: TW]));
            bits[p] = d1[p] ? (ac >= tc) : (ac <= tc);
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
        if (!rst_n) begin
            busy <= 1'b0; run <= 1'b0; nf <= '0; sf <= '0; addr <= '0; done <= 1'b0;
            v1 <= 1'b0; m_tvalid <= 1'b0;
        end else begin
            // accept a vector
            if (s_tvalid && !busy) begin
                busy <= 1'b1;
                run  <= 1'b1;
                nf <= '0; sf <= '0; addr <= '0;
            end
            // issue one fold per cycle
            v1 <= run;
            if (run) begin
                first1 <= (sf == '0);
                last1  <= (sf == SFW'(SF - 1));
                end1   <= (sf == SFW'(SF - 1)) && (nf == NFW'(NF - 1));
                addr   <= addr + 1'b1;
                if (sf == SFW'(SF - 1)) begin
                    sf <= '0;
                    nf <= nf + 1'b1;
                    if (nf == NFW'(NF - 1)) run <= 1'b0;
                end else begin
                    sf <= sf + 1'b1;
                end
            end
            // stage 2 -> done
            if (v1 && last1 && end1) done <= 1'b1;
            // output register
            if (m_tvalid && m_tready) m_tvalid <= 1'b0;
            if (done && (!m_tvalid || m_tready)) begin
                m_tvalid <= 1'b1;
                done     <= 1'b0;
                busy     <= 1'b0;
            end
        end
    end

    // datapath registers without reset
    always_ff @(posedge clk) begin
        if (s_tvalid && s_tready) xbuf <= s_tdata;
        if (run) begin
            w1 <= wmem[addr];
            t1 <= tmem[nf];
            d1 <= dmem[nf];
            x1 <= xbuf[sf*SIMD*IW +: SIMD*IW];
        end
        if (v1) begin
            acc <= acc_next;
            if (last1) coll <= coll_next;
        end
        if (done && (!m_tvalid || m_tready)) m_tdata <= coll;
    end
endmodule
