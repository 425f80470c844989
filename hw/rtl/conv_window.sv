// conv_window: sliding-window generator of a KT x KF convolution (stride 1, padding PT rows / PF columns on
// each side filled with PAD_VALUE) over an image streamed pixel by pixel.
//
// Input stream: the pixels of a T x F image in row-major order (row = time frame t, column = frequency bin f),
//   one pixel per beat: C elements of W bits, element (channel) c at s_tdata[c*W +: W]. Images follow each other
//   back to back (T*F beats each); no tlast.
// Output stream: one window per output pixel, TO x FO of them per image (TO = T + 2PT - KT + 1,
//   FO = F + 2PF - KF + 1), row-major, one window per beat: KT*KF*C elements of W bits in (kt, kf, c) order,
//   element e = (kt*KF + kf)*C + c at m_tdata[e*W +: W], where window (to, fo) element (kt, kf, c) is the
//   input pixel (to - PT + kt, fo - PF + kf), channel c, or PAD_VALUE outside the image. (torch stores conv
//   weights (out, c, kt, kf): the param writer of mvu_int8 permutes them to (out, kt, kf, c).)
//
// Structure: KT line buffers (inferred RAMs of F words of C*W bits; image row r goes to buffer r mod KT). A fetch
//   cursor walks the padded columns p = 0 .. F+2PF-1 of each output row, reads one column of KT pixels (all
//   buffers at the same address, rotated into window-row order, padding substituted) and shifts it into a
//   KT x KF window register; from the KF-th column on, every shift completes a window (m_tdata is that register).
//   An input pixel is written only when no fetch still needs the pixel it overwrites; a fetch is issued only when
//   its pixels have arrived. The next image's pixels are accepted once all fetches of the current one are issued.
//
// Cycles: TO * (FO + KF - 1) column shifts per image, one per cycle when neither side stalls; the first window of
//   an image leaves ~(KT-PT-1)*F + KF - PF + 3 input beats after its first pixel. Behind a slower consumer (the
//   MVU) the window rate is the consumer's: a new window is ready within KF cycles of the previous one leaving.
//
// Parameters need PT <= KT-1, PF <= KF-1, KT >= 1, KF >= 2, F >= 1.
module conv_window #(
    parameter int C = 3,
    parameter int W = 8,
    parameter int T = 300,
    parameter int F = 40,
    parameter int KT = 5,
    parameter int KF = 3,
    parameter int PT = 2,
    parameter int PF = 1,
    parameter int PAD_VALUE = 0      // W-bit pattern of a padding element (0 for the int8 first layer)
) (
    input  logic                     clk,
    input  logic                     rst_n,
    input  logic [C*W-1:0]           s_tdata,
    input  logic                     s_tvalid,
    output logic                     s_tready,
    output logic [KT*KF*C*W-1:0]     m_tdata,
    output logic                     m_tvalid,
    input  logic                     m_tready
);
    localparam int TO = T + 2*PT - KT + 1;
    localparam int FO = F + 2*PF - KF + 1;
    localparam int FP = F + 2*PF;                       // padded columns fetched per output row
    localparam int PIX = C*W;
    localparam int RB = $clog2(T + 1);                  // in_r: 0 .. T
    localparam int CB = (F > 1) ? $clog2(F) : 1;        // in_c: 0 .. F-1
    localparam int OB = $clog2(TO + 1);                 // f_to: 0 .. TO
    localparam int PB = (FP > 1) ? $clog2(FP) : 1;      // f_p:  0 .. FP-1
    localparam int SB = (KT > 1) ? $clog2(KT) : 1;      // line-buffer index
    localparam int SLOT_INIT = (KT - (PT % KT)) % KT;   // (0 - PT) mod KT
    localparam logic [W-1:0] PADW = PAD_VALUE;
    localparam logic [PIX-1:0] PAD_PIX = {C{PADW}};

    // ---------------- input side ----------------
    logic [RB-1:0] in_r;        // position of the next input pixel
    logic [CB-1:0] in_c;
    logic [SB-1:0] in_slot;     // in_r mod KT
    logic          in_done;     // all T*F pixels of the current image received
    // ---------------- fetch side ----------------
    logic [OB-1:0] f_to;        // next column fetch: output row, padded column
    logic [PB-1:0] f_p;
    logic [SB-1:0] f_slot0;     // (f_to - PT) mod KT: the buffer of window row 0
    logic          f_done;      // all fetches of the current image issued

    assign in_done = (in_r == RB'(T));
    assign f_done = (f_to == OB'(TO));

    // Writing pixel (r, c) overwrites (r-KT, c), whose last fetch is (r-KT+PT, c+PF): allowed once that fetch is
    // issued (cursor strictly past it).
    logic wr_ok;
    always_comb begin
        int r, c, ft, fp, rr, pp;
        r = in_r;
        c = in_c;
        ft = f_to;
        fp = f_p;
        rr = r - KT + PT;
        pp = c + PF;
        wr_ok = (r < KT) || (ft > rr) || (ft == rr && fp > pp);
    end
    assign s_tready = !in_done && wr_ok;
    wire wr = s_tvalid && s_tready;

    // Fetch (to, p) needs input up to (min(T-1, to-PT+KT-1), p-PF) unless p is a padding column.
    logic avail, pad_col;
    logic [KT-1:0] pad_row;
    logic [CB-1:0] rd_addr;
    always_comb begin
        int to, p, c, rmax, ir, ic, rr;
        to = f_to;
        p = f_p;
        c = p - PF;
        ir = in_r;
        ic = in_c;
        rmax = to - PT + KT - 1;
        if (rmax > T - 1) rmax = T - 1;
        pad_col = (c < 0) || (c >= F);
        avail = pad_col || (ir > rmax) || (ir == rmax && ic > c);
        for (int k = 0; k < KT; k++) begin
            rr = to - PT + k;
            pad_row[k] = (rr < 0) || (rr >= T);
        end
        rd_addr = pad_col ? '0 : CB'(c);
    end

    // ---------------- stage 1: the fetched column (line-buffer read registers) ----------------
    logic          s1_valid, s1_pad_col, s1_emit;
    logic [KT-1:0] s1_pad_row;
    logic [SB-1:0] s1_slot0;
    logic          shift, issue;
    assign shift = s1_valid && !(m_tvalid && !m_tready);
    assign issue = !f_done && avail && (!s1_valid || shift);

    logic [KT*PIX-1:0] rd;       // read register of line buffer j at [j*PIX +: PIX]

    genvar gj;
    for (gj = 0; gj < KT; gj++) begin : g_line
        logic [PIX-1:0] mem [0:F-1];
        logic [PIX-1:0] rdq;
        always_ff @(posedge clk) begin
            if (wr && in_slot == SB'(gj)) mem[in_c] <= s_tdata;
            if (issue && !pad_col) rdq <= mem[rd_addr];
        end
        assign rd[gj*PIX +: PIX] = rdq;
    end

    // the fetched column in window-row order, padding substituted
    logic [KT*PIX-1:0] col;
    always_comb begin
        int j;
        logic [PIX-1:0] px;
        for (int k = 0; k < KT; k++) begin
            j = s1_slot0;
            j = j + k;                       // (slot0 + k) mod KT, both < KT
            if (j >= KT) j = j - KT;
            px = rd[0 +: PIX];
            for (int b = 1; b < KT; b++)     // a mux over the buffers (constant selects)
                if (j == b) px = rd[b*PIX +: PIX];
            col[k*PIX +: PIX] = (s1_pad_col || s1_pad_row[k]) ? PAD_PIX : px;
        end
    end

    // ---------------- window register: pixel (kt, kf) at [(kt*KF + kf)*PIX +: PIX] ----------------
    logic [KT*KF*PIX-1:0] win;
    assign m_tdata = win;

    always_ff @(posedge clk) begin
        if (shift) begin
            for (int k = 0; k < KT; k++) begin
                for (int j = 0; j < KF - 1; j++)
                    win[(k*KF + j)*PIX +: PIX] <= win[(k*KF + j + 1)*PIX +: PIX];
                win[(k*KF + KF - 1)*PIX +: PIX] <= col[k*PIX +: PIX];
            end
        end
    end

    always_ff @(posedge clk) begin
        if (!rst_n) begin
            in_r <= '0;
            in_c <= '0;
            in_slot <= '0;
            f_to <= '0;
            f_p <= '0;
            f_slot0 <= SB'(SLOT_INIT);
            s1_valid <= 1'b0;
            s1_pad_col <= 1'b0;
            s1_pad_row <= '0;
            s1_slot0 <= '0;
            s1_emit <= 1'b0;
            m_tvalid <= 1'b0;
        end else begin
            // input counters
            if (in_done && f_done) begin            // next image
                in_r <= '0;
                in_c <= '0;
                in_slot <= '0;
            end else if (wr) begin
                if (in_c == CB'(F - 1)) begin
                    in_c <= '0;
                    in_r <= in_r + 1'b1;
                    in_slot <= (in_slot == SB'(KT - 1)) ? '0 : in_slot + 1'b1;
                end else begin
                    in_c <= in_c + 1'b1;
                end
            end
            // fetch cursor
            if (in_done && f_done) begin
                f_to <= '0;
                f_p <= '0;
                f_slot0 <= SB'(SLOT_INIT);
            end else if (issue) begin
                if (f_p == PB'(FP - 1)) begin
                    f_p <= '0;
                    f_to <= f_to + 1'b1;
                    f_slot0 <= (f_slot0 == SB'(KT - 1)) ? '0 : f_slot0 + 1'b1;
                end else begin
                    f_p <= f_p + 1'b1;
                end
            end
            // stage 1
            if (issue) begin
                s1_valid <= 1'b1;
                s1_pad_col <= pad_col;
                s1_pad_row <= pad_row;
                s1_slot0 <= f_slot0;
                s1_emit <= (f_p >= PB'(KF - 1));
            end else if (shift) begin
                s1_valid <= 1'b0;
            end
            // output
            if (shift) m_tvalid <= s1_emit;
            else if (m_tready) m_tvalid <= 1'b0;
        end
    end
endmodule
