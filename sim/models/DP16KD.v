`resetall
`timescale 1ns / 1ps
`default_nettype none

// Simulation model of the ECP5 block RAM DP16KD (gate-level simulation only; Yosys ships a black box for it), in the
// configurations Yosys' synth_ecp5 emits (share/lattice/brams_map_16kd.v, described by brams_16kd.txt):
//   - true dual port, each port 1, 2, 4, 9 or 18 bits wide, or the pseudo dual port: port A writes 36 bits
//     ({DIB, DIA}, byte enables on ADA3..ADA0), port B reads 1..36 bits (36: {DOB, DOA});
//   - no output register (REGMODE NOREG): the data of a read is on DO after the clock edge; CE gates the port;
//   - on a port's own write, WRITEMODE decides its output: NORMAL keeps it, WRITETHROUGH shows the new word,
//     READBEFOREWRITE the old one; x18 ports write the bytes their ADx1/ADx0 enable;
//   - RST clears the output (RESETMODE SYNC: at the clock edge, whatever CE; ASYNC: at once);
//   - memory initialized from INITVAL_00..3F (16 words of 18 bits in 20-bit slots each), the output from zero.
// The layout is Yosys' (its memory library): the memory is 1024 words of 18 bits; a 9-bit word is half of one (low
// half at the even address), a 4-bit word the low 4 bits of a 9-bit half, and so on down to 1 bit; a 36-bit word is
// two 18-bit words (low half at the even address). Any other configuration stops the simulation (an unknown
// parameter stops elaboration), so that a netlist using a mode this model does not implement cannot pass by accident.
module DP16KD #(
    parameter DATA_WIDTH_A = 18, parameter DATA_WIDTH_B = 18,
    parameter REGMODE_A = "NOREG", parameter REGMODE_B = "NOREG",
    parameter RESETMODE = "SYNC", parameter ASYNC_RESET_RELEASE = "SYNC",
    parameter CSDECODE_A = "0b000", parameter CSDECODE_B = "0b000",
    parameter WRITEMODE_A = "NORMAL", parameter WRITEMODE_B = "NORMAL",
    parameter CLKAMUX = "CLKA", parameter CLKBMUX = "CLKB", parameter GSR = "ENABLED",
    parameter [319:0] INITVAL_00 = 320'h0, parameter [319:0] INITVAL_01 = 320'h0, parameter [319:0] INITVAL_02 = 320'h0,
    parameter [319:0] INITVAL_03 = 320'h0, parameter [319:0] INITVAL_04 = 320'h0, parameter [319:0] INITVAL_05 = 320'h0,
    parameter [319:0] INITVAL_06 = 320'h0, parameter [319:0] INITVAL_07 = 320'h0, parameter [319:0] INITVAL_08 = 320'h0,
    parameter [319:0] INITVAL_09 = 320'h0, parameter [319:0] INITVAL_0A = 320'h0, parameter [319:0] INITVAL_0B = 320'h0,
    parameter [319:0] INITVAL_0C = 320'h0, parameter [319:0] INITVAL_0D = 320'h0, parameter [319:0] INITVAL_0E = 320'h0,
    parameter [319:0] INITVAL_0F = 320'h0, parameter [319:0] INITVAL_10 = 320'h0, parameter [319:0] INITVAL_11 = 320'h0,
    parameter [319:0] INITVAL_12 = 320'h0, parameter [319:0] INITVAL_13 = 320'h0, parameter [319:0] INITVAL_14 = 320'h0,
    parameter [319:0] INITVAL_15 = 320'h0, parameter [319:0] INITVAL_16 = 320'h0, parameter [319:0] INITVAL_17 = 320'h0,
    parameter [319:0] INITVAL_18 = 320'h0, parameter [319:0] INITVAL_19 = 320'h0, parameter [319:0] INITVAL_1A = 320'h0,
    parameter [319:0] INITVAL_1B = 320'h0, parameter [319:0] INITVAL_1C = 320'h0, parameter [319:0] INITVAL_1D = 320'h0,
    parameter [319:0] INITVAL_1E = 320'h0, parameter [319:0] INITVAL_1F = 320'h0, parameter [319:0] INITVAL_20 = 320'h0,
    parameter [319:0] INITVAL_21 = 320'h0, parameter [319:0] INITVAL_22 = 320'h0, parameter [319:0] INITVAL_23 = 320'h0,
    parameter [319:0] INITVAL_24 = 320'h0, parameter [319:0] INITVAL_25 = 320'h0, parameter [319:0] INITVAL_26 = 320'h0,
    parameter [319:0] INITVAL_27 = 320'h0, parameter [319:0] INITVAL_28 = 320'h0, parameter [319:0] INITVAL_29 = 320'h0,
    parameter [319:0] INITVAL_2A = 320'h0, parameter [319:0] INITVAL_2B = 320'h0, parameter [319:0] INITVAL_2C = 320'h0,
    parameter [319:0] INITVAL_2D = 320'h0, parameter [319:0] INITVAL_2E = 320'h0, parameter [319:0] INITVAL_2F = 320'h0,
    parameter [319:0] INITVAL_30 = 320'h0, parameter [319:0] INITVAL_31 = 320'h0, parameter [319:0] INITVAL_32 = 320'h0,
    parameter [319:0] INITVAL_33 = 320'h0, parameter [319:0] INITVAL_34 = 320'h0, parameter [319:0] INITVAL_35 = 320'h0,
    parameter [319:0] INITVAL_36 = 320'h0, parameter [319:0] INITVAL_37 = 320'h0, parameter [319:0] INITVAL_38 = 320'h0,
    parameter [319:0] INITVAL_39 = 320'h0, parameter [319:0] INITVAL_3A = 320'h0, parameter [319:0] INITVAL_3B = 320'h0,
    parameter [319:0] INITVAL_3C = 320'h0, parameter [319:0] INITVAL_3D = 320'h0, parameter [319:0] INITVAL_3E = 320'h0,
    parameter [319:0] INITVAL_3F = 320'h0
) (
    input  wire DIA17, DIA16, DIA15, DIA14, DIA13, DIA12, DIA11, DIA10, DIA9, DIA8, DIA7, DIA6, DIA5, DIA4, DIA3, DIA2, DIA1, DIA0,
    input  wire ADA13, ADA12, ADA11, ADA10, ADA9, ADA8, ADA7, ADA6, ADA5, ADA4, ADA3, ADA2, ADA1, ADA0,
    input  wire CEA, OCEA, CLKA, WEA, RSTA,
    input  wire CSA2, CSA1, CSA0,
    output wire DOA17, DOA16, DOA15, DOA14, DOA13, DOA12, DOA11, DOA10, DOA9, DOA8, DOA7, DOA6, DOA5, DOA4, DOA3, DOA2, DOA1, DOA0,
    input  wire DIB17, DIB16, DIB15, DIB14, DIB13, DIB12, DIB11, DIB10, DIB9, DIB8, DIB7, DIB6, DIB5, DIB4, DIB3, DIB2, DIB1, DIB0,
    input  wire ADB13, ADB12, ADB11, ADB10, ADB9, ADB8, ADB7, ADB6, ADB5, ADB4, ADB3, ADB2, ADB1, ADB0,
    input  wire CEB, OCEB, CLKB, WEB, RSTB,
    input  wire CSB2, CSB1, CSB0,
    output wire DOB17, DOB16, DOB15, DOB14, DOB13, DOB12, DOB11, DOB10, DOB9, DOB8, DOB7, DOB6, DOB5, DOB4, DOB3, DOB2, DOB1, DOB0
);
    localparam WIDE = DATA_WIDTH_A == 36;  // pseudo dual port: A writes 36 bits, B reads
    localparam [20479:0] INIT = {
        INITVAL_3F, INITVAL_3E, INITVAL_3D, INITVAL_3C, INITVAL_3B, INITVAL_3A, INITVAL_39, INITVAL_38,
        INITVAL_37, INITVAL_36, INITVAL_35, INITVAL_34, INITVAL_33, INITVAL_32, INITVAL_31, INITVAL_30,
        INITVAL_2F, INITVAL_2E, INITVAL_2D, INITVAL_2C, INITVAL_2B, INITVAL_2A, INITVAL_29, INITVAL_28,
        INITVAL_27, INITVAL_26, INITVAL_25, INITVAL_24, INITVAL_23, INITVAL_22, INITVAL_21, INITVAL_20,
        INITVAL_1F, INITVAL_1E, INITVAL_1D, INITVAL_1C, INITVAL_1B, INITVAL_1A, INITVAL_19, INITVAL_18,
        INITVAL_17, INITVAL_16, INITVAL_15, INITVAL_14, INITVAL_13, INITVAL_12, INITVAL_11, INITVAL_10,
        INITVAL_0F, INITVAL_0E, INITVAL_0D, INITVAL_0C, INITVAL_0B, INITVAL_0A, INITVAL_09, INITVAL_08,
        INITVAL_07, INITVAL_06, INITVAL_05, INITVAL_04, INITVAL_03, INITVAL_02, INITVAL_01, INITVAL_00};

    function automatic bit width_ok(input integer w, input bit wide_ok);
        width_ok = w == 1 || w == 2 || w == 4 || w == 9 || w == 18 || (wide_ok && w == 36);
    endfunction
    initial begin
        if (REGMODE_A != "NOREG" || REGMODE_B != "NOREG")
            $fatal(1, "DP16KD model: only REGMODE NOREG is modelled");
        if (CSDECODE_A != "0b000" || CSDECODE_B != "0b000")
            $fatal(1, "DP16KD model: only CSDECODE 0b000 is modelled");
        if (RESETMODE != "SYNC" && RESETMODE != "ASYNC")
            $fatal(1, "DP16KD model: RESETMODE %s", RESETMODE);
        if (!width_ok(DATA_WIDTH_A, 1'b1) || !width_ok(DATA_WIDTH_B, WIDE) || (DATA_WIDTH_B == 36 && !WIDE))
            $fatal(1, "DP16KD model: data widths %0d/%0d", DATA_WIDTH_A, DATA_WIDTH_B);
        if ((WRITEMODE_A != "NORMAL" && WRITEMODE_A != "WRITETHROUGH" && WRITEMODE_A != "READBEFOREWRITE") ||
            (WRITEMODE_B != "NORMAL" && WRITEMODE_B != "WRITETHROUGH" && WRITEMODE_B != "READBEFOREWRITE"))
            $fatal(1, "DP16KD model: WRITEMODE %s/%s", WRITEMODE_A, WRITEMODE_B);
        if ((CLKAMUX != "CLKA" && CLKAMUX != "INV") || (CLKBMUX != "CLKB" && CLKBMUX != "INV"))
            $fatal(1, "DP16KD model: CLKAMUX %s, CLKBMUX %s", CLKAMUX, CLKBMUX);
    end

    reg [17:0] mem [0:1023];
    integer i;
    initial for (i = 0; i < 1024; i = i + 1) mem[i] = INIT[(i / 16) * 320 + (i % 16) * 20 +: 18];

    wire [17:0] dia = {DIA17, DIA16, DIA15, DIA14, DIA13, DIA12, DIA11, DIA10, DIA9, DIA8, DIA7, DIA6, DIA5, DIA4, DIA3, DIA2, DIA1, DIA0};
    wire [17:0] dib = {DIB17, DIB16, DIB15, DIB14, DIB13, DIB12, DIB11, DIB10, DIB9, DIB8, DIB7, DIB6, DIB5, DIB4, DIB3, DIB2, DIB1, DIB0};
    wire [13:0] ada = {ADA13, ADA12, ADA11, ADA10, ADA9, ADA8, ADA7, ADA6, ADA5, ADA4, ADA3, ADA2, ADA1, ADA0};
    wire [13:0] adb = {ADB13, ADB12, ADB11, ADB10, ADB9, ADB8, ADB7, ADB6, ADB5, ADB4, ADB3, ADB2, ADB1, ADB0};
    wire clka = CLKAMUX == "INV" ? ~CLKA : CLKA;
    wire clkb = CLKBMUX == "INV" ? ~CLKB : CLKB;
    wire ena = CEA && {CSA2, CSA1, CSA0} == 3'b000;
    wire enb = CEB && {CSB2, CSB1, CSB0} == 3'b000;

    // a port of width w at address ad: the 18-bit word, and a mask of the bits it covers
    function automatic [9:0] row(input integer w, input [13:0] ad);
        row = ad[13:4];
    endfunction
    function automatic [17:0] lanes(input integer w, input [13:0] ad);
        integer lsb;
        lsb = 9 * ad[3] + (w <= 4 ? 4 * ad[2] : 0) + (w <= 2 ? 2 * ad[1] : 0) + (w == 1 ? ad[0] : 0);
        case (w)
            18: lanes = {{9{ad[1]}}, {9{ad[0]}}};  // x18: ADx1/ADx0 enable the bytes
            9: lanes = 18'h1ff << lsb;
            default: lanes = ((18'h1 << w) - 18'h1) << lsb;
        endcase
    endfunction
    // the w bits of `word` that a port at address ad sees, in the low bits
    function automatic [17:0] pick(input integer w, input [13:0] ad, input [17:0] word);
        integer lsb;
        lsb = w == 18 ? 0 : 9 * ad[3] + (w <= 4 ? 4 * ad[2] : 0) + (w <= 2 ? 2 * ad[1] : 0) + (w == 1 ? ad[0] : 0);
        pick = (word >> lsb) & ((18'h1 << (w == 18 ? 18 : w)) - 18'h1);
    endfunction
    // w bits of data written at the place a port at address ad covers
    function automatic [17:0] place(input integer w, input [13:0] ad, input [17:0] data);
        integer lsb;
        lsb = w == 18 ? 0 : 9 * ad[3] + (w <= 4 ? 4 * ad[2] : 0) + (w <= 2 ? 2 * ad[1] : 0) + (w == 1 ? ad[0] : 0);
        place = data << lsb;
    endfunction

    reg [17:0] doa = 18'h0, dob = 18'h0;
    assign {DOA17, DOA16, DOA15, DOA14, DOA13, DOA12, DOA11, DOA10, DOA9, DOA8, DOA7, DOA6, DOA5, DOA4, DOA3, DOA2, DOA1, DOA0} = doa;
    assign {DOB17, DOB16, DOB15, DOB14, DOB13, DOB12, DOB11, DOB10, DOB9, DOB8, DOB7, DOB6, DOB5, DOB4, DOB3, DOB2, DOB1, DOB0} = dob;

    // ---- port A
    wire [9:0] rowa = row(DATA_WIDTH_A, ada);
    wire [17:0] maska = lanes(DATA_WIDTH_A, ada);
    wire [17:0] olda = mem[rowa];
    wire [17:0] newa = (olda & ~maska) | (place(DATA_WIDTH_A, ada, dia) & maska);
    generate
        if (WIDE) begin : wide_write  // 36-bit write: {DIB, DIA} at rows 2k, 2k+1, byte enables ADA3..ADA0
            wire [9:0] lo = {ada[13:5], 1'b0}, hi = {ada[13:5], 1'b1};
            wire [17:0] mlo = {{9{ada[1]}}, {9{ada[0]}}}, mhi = {{9{ada[3]}}, {9{ada[2]}}};
            always @(posedge clka)
                if (ena && WEA) begin
                    mem[lo] <= (mem[lo] & ~mlo) | (dia & mlo);
                    mem[hi] <= (mem[hi] & ~mhi) | (dib & mhi);
                end
        end else begin : port_a
            wire rsta = RESETMODE == "SYNC" && RSTA;
            always @(posedge clka) begin
                if (rsta)
                    doa <= 18'h0;
                else if (ena) begin
                    if (WEA) begin
                        mem[rowa] <= newa;
                        if (WRITEMODE_A == "WRITETHROUGH") doa <= pick(DATA_WIDTH_A, ada, newa);
                        else if (WRITEMODE_A == "READBEFOREWRITE") doa <= pick(DATA_WIDTH_A, ada, olda);
                    end else
                        doa <= pick(DATA_WIDTH_A, ada, olda);
                end
                if (rsta && ena && WEA) $fatal(1, "DP16KD model: reset and write in the same cycle (port A)");
            end
            if (RESETMODE == "ASYNC") begin : async_a
                always @(posedge RSTA) $fatal(1, "DP16KD model: asynchronous reset of port A is not modelled");
            end
        end
    endgenerate

    // ---- port B
    wire [9:0] rowb = row(DATA_WIDTH_B, adb);
    wire [17:0] maskb = lanes(DATA_WIDTH_B, adb);
    wire [17:0] oldb = mem[rowb];
    wire [17:0] newb = (oldb & ~maskb) | (place(DATA_WIDTH_B, adb, dib) & maskb);
    generate
        if (WIDE) begin : wide_read  // 36-bit read: {DOB, DOA} from rows 2k, 2k+1; narrower: DOB
            wire rstb = RESETMODE == "SYNC" && RSTB;
            always @(posedge clkb) begin
                if (rstb) begin
                    dob <= 18'h0;
                    if (DATA_WIDTH_B == 36) doa <= 18'h0;
                end else if (enb) begin
                    if (DATA_WIDTH_B == 36) begin
                        doa <= mem[{adb[13:5], 1'b0}];
                        dob <= mem[{adb[13:5], 1'b1}];
                    end else
                        dob <= pick(DATA_WIDTH_B, adb, oldb);
                end
                if (WEB) $fatal(1, "DP16KD model: port B writes in the 36-bit mode");
            end
            if (RESETMODE == "ASYNC") begin : async_b
                always @(posedge RSTB) $fatal(1, "DP16KD model: asynchronous reset of port B is not modelled");
            end
        end else begin : port_b
            wire rstb = RESETMODE == "SYNC" && RSTB;
            always @(posedge clkb) begin
                if (rstb)
                    dob <= 18'h0;
                else if (enb) begin
                    if (WEB) begin
                        mem[rowb] <= newb;
                        if (WRITEMODE_B == "WRITETHROUGH") dob <= pick(DATA_WIDTH_B, adb, newb);
                        else if (WRITEMODE_B == "READBEFOREWRITE") dob <= pick(DATA_WIDTH_B, adb, oldb);
                    end else
                        dob <= pick(DATA_WIDTH_B, adb, oldb);
                end
                if (rstb && enb && WEB) $fatal(1, "DP16KD model: reset and write in the same cycle (port B)");
            end
            if (RESETMODE == "ASYNC") begin : async_b
                always @(posedge RSTB) $fatal(1, "DP16KD model: asynchronous reset of port B is not modelled");
            end
        end
    endgenerate
endmodule

`resetall
