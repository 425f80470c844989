`resetall
`timescale 1ns / 1ps
`default_nettype none

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
//   Both conditions are the sign of a difference of linear positions kept in a counter (pixels received minus
//   the last pixel the fetch needs; fetches issued minus the last fetch that reads the pixel about to be
//   overwritten), stepped by constants as the cursors move, and everything else about the cursor (padding, read
//   address, window complete, buffer selects) is a register updated with it: no multiplication or compare of
//   rows and columns sits in front of the handshakes. s_tready never depends on m_tready.
//
// Cycles: TO * (FO + KF - 1) column shifts per image, one per cycle when neither side stalls; the first window of
//   an image leaves ~(KT-PT-1)*F + KF - PF + 3 input beats after its first pixel. Behind a slower consumer (the
//   MVU) the window rate is the consumer's: a new window is ready within KF cycles of the previous one leaving.
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
    // differences of linear positions (pixel index r*F + c, fetch index to*FP + p), two's complement: they lie
    // within +-(LMAX + 1) whenever their sign is read
    localparam int LMAX = (T*F + F + PF > TO*FP) ? T*F + F + PF : TO*FP;
    localparam int LB = $clog2(LMAX + 1) + 1;
    localparam int RMAX0 = (KT - PT - 1 < T - 1) ? KT - PT - 1 : T - 1;   // last input row of output row 0
    // steps of the differences: a pixel in (+1), a fetch issued (+1 to f_lin; the fetch's need moves by 1, or from
    // the end of a row to the start of the next: F - (FP - 1) when its last input row moves down, -(FP - 1) when
    // not); wneed moves by 1, or FP - F + 1 from the end of an input row to the start of the next
    localparam logic [LB-1:0] WSTEP_ROW = LB'(FP - F + 1);
    localparam logic [LB-1:0] NSTEP_DOWN = LB'(F - FP + 1);
    localparam logic [LB-1:0] NSTEP_STAY = LB'(1 - FP);

    initial if (KT < 1 || KF < 2 || F < 1 || T < 1 || PT < 0 || PT > KT - 1 || PF < 0 || PF > KF - 1 || FO < 1
                || TO < 1)
        $fatal(1, "conv_window: need KT, T, F >= 1, KF >= 2, 0 <= PT < KT, 0 <= PF < KF and a window (KT=%0d KF=%0d)",
               KT, KF);

    // ---------------- input side ----------------
    logic [RB-1:0] in_r;        // position of the next input pixel
    logic [CB-1:0] in_c;
    logic [KT-1:0] in_sel;      // one-hot: the buffer of row in_r (in_r mod KT)
    logic          in_c_last;   // in_c == F-1
    logic          in_done;     // in_r == T: all T*F pixels of the current image received
    logic          in_first;    // in_r < KT: the pixel overwrites nothing
    // dw = f_lin - wneed - 1, wneed = (in_r-KT+PT)*FP + in_c + PF: the last fetch that reads the pixel overwritten
    logic [LB-1:0] dw;
    // ---------------- fetch side ----------------
    logic [OB-1:0] f_to;        // next column fetch: output row, padded column
    logic [PB-1:0] f_p;
    logic [KT*KT-1:0] f_sel;    // bit k*KT + j: window row k reads buffer j = (f_to - PT + k) mod KT
    logic          f_done;      // f_to == TO: all fetches of the current image issued
    logic          f_p_last;    // f_p == FP-1
    logic          f_rinc;      // f_to < T+PT-KT: the next output row's last input row is one further down
    // da = in_r*F + in_c - f_need - 1, f_need = rmax*F + f_p - PF with rmax = min(T-1, f_to-PT+KT-1): the last
    // pixel the fetch needs (when not a padding column)
    logic [LB-1:0] da;
    logic          pad_col;     // f_p is a padding column
    logic [KT-1:0] pad_row;     // window row k of f_to is a padding row
    logic [CB-1:0] rd_addr;     // f_p - PF: the line-buffer word of the fetch
    logic          f_emit;      // f_p >= KF-1: the shift completes a window

    // Writing pixel (r, c) overwrites (r-KT, c), whose last fetch is (r-KT+PT, c+PF): allowed once that fetch is
    // issued (cursor strictly past it).
    logic wr_ok, wr, avail;
    assign wr_ok = in_first || !dw[LB-1];
    assign s_tready = !in_done && wr_ok;
    assign wr = s_tvalid && s_tready;
    // Fetch (to, p) needs input up to (min(T-1, to-PT+KT-1), p-PF) unless p is a padding column.
    assign avail = pad_col || !da[LB-1];

    // ---------------- stage 1: the fetched column (line-buffer read registers) ----------------
    logic             s1_valid, s1_emit;
    logic [KT-1:0]    s1_pad;       // window row k of the column is padding
    logic [KT*KT-1:0] s1_sel;
    logic          shift, issue, next_image;
    assign shift = s1_valid && !(m_tvalid && !m_tready);
    assign issue = !f_done && avail && (!s1_valid || shift);
    assign next_image = in_done && f_done;

    logic [KT*PIX-1:0] rd;       // read register of line buffer j at [j*PIX +: PIX]

    genvar gj;
    for (gj = 0; gj < KT; gj++) begin : g_line
        logic [PIX-1:0] mem [0:F-1];
        logic [PIX-1:0] rdq;
        always_ff @(posedge clk) begin
            if (wr && in_sel[gj]) mem[in_c] <= s_tdata;
            if (issue && !pad_col) rdq <= mem[rd_addr];
        end
        assign rd[gj*PIX +: PIX] = rdq;
    end

    // the fetched column in window-row order (an AND-OR mux over the buffers, one-hot selects), padding substituted
    logic [KT*PIX-1:0] col;
    always_comb begin
        logic [PIX-1:0] px;
        for (int k = 0; k < KT; k++) begin
            px = '0;
            for (int b = 0; b < KT; b++) px = px | ({PIX{s1_sel[k*KT + b]}} & rd[b*PIX +: PIX]);
            col[k*PIX +: PIX] = s1_pad[k] ? PAD_PIX : px;
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

    // the cursor's registers at the start of an image, and those of the next output row
    logic [KT-1:0] pad_row0;
    logic [KT*KT-1:0] sel0, sel_next;
    genvar gb;
    for (gj = 0; gj < KT; gj++) begin : g_row0
        assign pad_row0[gj] = (gj < PT) || (gj - PT >= T);
        for (gb = 0; gb < KT; gb++) begin : g_sel0
            assign sel0[gj*KT + gb] = (gb == (SLOT_INIT + gj) % KT);
        end
    end
    // the next output row reads each window row from the next buffer: every row of selects rotates by one
    always_comb begin
        logic [KT-1:0] row;
        for (int k = 0; k < KT; k++) begin
            row = f_sel[k*KT +: KT];
            sel_next[k*KT +: KT] = KT'({row, row} >> (KT - 1));
        end
    end
    // window row k of the next output row is row k+1 of this one; its last row lies below the image exactly when
    // rmax stays
    logic [KT-1:0] pad_row_next;
    always_comb begin
        for (int k = 0; k < KT - 1; k++) pad_row_next[k] = pad_row[k + 1];
        pad_row_next[KT-1] = !f_rinc;
    end
    // the differences' steps, constants picked by the handshakes: one adder each
    logic [LB-1:0] dw_step, da_step;
    always_comb begin
        case ({wr, in_c_last, issue})
            3'b100: dw_step = LB'(-1);
            3'b101: dw_step = '0;
            3'b110: dw_step = -WSTEP_ROW;
            3'b111: dw_step = LB'(1) - WSTEP_ROW;
            3'b001, 3'b011: dw_step = LB'(1);
            default: dw_step = '0;
        endcase
        case ({issue, f_p_last, f_rinc, wr})
            4'b1000, 4'b1010: da_step = LB'(-1);
            4'b1001, 4'b1011: da_step = '0;
            4'b1100: da_step = -NSTEP_STAY;
            4'b1101: da_step = LB'(1) - NSTEP_STAY;
            4'b1110: da_step = -NSTEP_DOWN;
            4'b1111: da_step = LB'(1) - NSTEP_DOWN;
            4'b0001, 4'b0011, 4'b0101, 4'b0111: da_step = LB'(1);
            default: da_step = '0;
        endcase
    end

    always_ff @(posedge clk) begin
        if (!rst_n || next_image) begin
            in_r <= '0;
            in_c <= '0;
            in_sel <= KT'(1);
            in_c_last <= (F == 1);
            in_done <= 1'b0;
            in_first <= 1'b1;
            dw <= LB'((KT - PT) * FP - PF - 1);
            f_to <= '0;
            f_p <= '0;
            f_sel <= sel0;
            f_done <= 1'b0;
            f_p_last <= (FP == 1);
            f_rinc <= (0 < T + PT - KT);
            da <= LB'(PF - 1 - RMAX0 * F);
            pad_col <= (PF > 0);
            pad_row <= pad_row0;
            rd_addr <= CB'(-PF);
            f_emit <= (KF == 1);
        end else begin
            dw <= dw + dw_step;
            da <= da + da_step;
            // input counters
            if (wr) begin
                if (in_c_last) begin
                    in_c <= '0;
                    in_c_last <= (F == 1);
                    in_r <= in_r + 1'b1;
                    in_done <= (in_r == RB'(T - 1));
                    if (in_r == RB'(KT - 1)) in_first <= 1'b0;
                    in_sel <= KT'({in_sel, in_sel} >> (KT - 1));
                end else begin
                    in_c <= in_c + 1'b1;
                    in_c_last <= (in_c == CB'(F - 2));
                end
            end
            // fetch cursor
            if (issue) begin
                if (f_p_last) begin
                    f_p <= '0;
                    f_p_last <= (FP == 1);
                    f_to <= f_to + 1'b1;
                    f_done <= (f_to == OB'(TO - 1));
                    f_sel <= sel_next;
                    f_rinc <= (T + PT - KT - 1 > 0) && (f_to < OB'(T + PT - KT - 1));
                    pad_col <= (PF > 0);
                    pad_row <= pad_row_next;
                    rd_addr <= CB'(-PF);
                    f_emit <= (KF == 1);
                end else begin
                    f_p <= f_p + 1'b1;
                    f_p_last <= (f_p == PB'(FP - 2));
                    pad_col <= (PF > 1 && f_p < PB'(PF - 1)) || (f_p >= PB'(F + PF - 1));
                    rd_addr <= rd_addr + 1'b1;
                    f_emit <= (f_p >= PB'(KF - 2));
                end
            end
        end
    end

    always_ff @(posedge clk) begin
        if (!rst_n) begin
            s1_valid <= 1'b0;
            s1_pad <= '0;
            s1_sel <= '0;
            s1_emit <= 1'b0;
            m_tvalid <= 1'b0;
        end else begin
            if (issue) begin
                s1_valid <= 1'b1;
                s1_pad <= pad_row | {KT{pad_col}};
                s1_sel <= f_sel;
                s1_emit <= f_emit;
            end else if (shift) begin
                s1_valid <= 1'b0;
            end
            if (shift) m_tvalid <= s1_emit;
            else if (m_tready) m_tvalid <= 1'b0;
        end
    end
endmodule

`resetall
