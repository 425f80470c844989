`resetall
`timescale 1ns / 1ps
`default_nettype none

// frontend_chain: the BCRNN front end as one stream, for the chain bench (sim/bench_frontend_chain.py) and as the
// wiring bcrnn_top can copy:
//   int8 feature pixels (C codes per beat, T x F row-major)
//     -> conv_window (KT x KF, zero padding KT/2, KF/2) -> mvu_int8 (CH channels, thresholds)
//     -> maxpool_bits (POOL_T x POOL_F, OR)                   = the reference's "conv0" stream, also on pool_*
//     -> xnor_mvu (one frame = F2 pooled pixels of CH bits, frequency-major, channels innermost -> DENSE bits)
//                                                             = the reference's "dense" stream, on m_*
// pool_* mirror the handshake between maxpool_bits and xnor_mvu (outputs only, for monitoring).
module frontend_chain #(
    parameter int C = 3,
    parameter int T = 300,
    parameter int F = 40,
    parameter int KT = 5,
    parameter int KF = 3,
    parameter int PT = 2,
    parameter int PF = 1,
    parameter int CH = 64,
    parameter int CONV_PE = 16,
    parameter int CONV_SIMD = 45,
    parameter int CONV_WB = 1,       // first-conv weight bits (1 = +-1; 2..8 = signed codes)
    parameter int POOL_T = 2,
    parameter int POOL_F = 4,
    parameter int DENSE = 256,
    parameter int DENSE_PE = 8,
    parameter int DENSE_SIMD = 64,
    parameter CONV_W_FILE = "",
    parameter CONV_T_FILE = "",
    parameter DENSE_W_FILE = "",
    parameter DENSE_T_FILE = ""
) (
    input  logic              clk,
    input  logic              rst_n,
    input  logic [C*8-1:0]    s_tdata,
    input  logic              s_tvalid,
    output logic              s_tready,
    output logic [DENSE-1:0]  m_tdata,
    output logic              m_tvalid,
    input  logic              m_tready,
    output logic [CH-1:0]     pool_tdata,
    output logic              pool_tvalid,
    output logic              pool_tready
);
    localparam int K = C * KT * KF;
    localparam int TO = T + 2*PT - KT + 1;
    localparam int FO = F + 2*PF - KF + 1;
    localparam int F2 = FO / POOL_F;

    logic [K*8-1:0] win_tdata;
    logic win_tvalid, win_tready;
    logic [CH-1:0] conv_tdata;
    logic conv_tvalid, conv_tready;

    conv_window #(.C(C), .W(8), .T(T), .F(F), .KT(KT), .KF(KF), .PT(PT), .PF(PF), .PAD_VALUE(0)) u_window (
        .clk(clk), .rst_n(rst_n),
        .s_tdata(s_tdata), .s_tvalid(s_tvalid), .s_tready(s_tready),
        .m_tdata(win_tdata), .m_tvalid(win_tvalid), .m_tready(win_tready));

    mvu_int8 #(.K(K), .W(8), .CH(CH), .PE(CONV_PE), .SIMD(CONV_SIMD), .WB(CONV_WB), .W_FILE(CONV_W_FILE),
               .T_FILE(CONV_T_FILE))
    u_conv (
        .clk(clk), .rst_n(rst_n),
        .s_tdata(win_tdata), .s_tvalid(win_tvalid), .s_tready(win_tready),
        .m_tdata(conv_tdata), .m_tvalid(conv_tvalid), .m_tready(conv_tready));

    maxpool_bits #(.C(CH), .T(TO), .F(FO), .PT(POOL_T), .PF(POOL_F)) u_pool (
        .clk(clk), .rst_n(rst_n),
        .s_tdata(conv_tdata), .s_tvalid(conv_tvalid), .s_tready(conv_tready),
        .m_tdata(pool_tdata), .m_tvalid(pool_tvalid), .m_tready(pool_tready));

    xnor_mvu #(.MW(F2 * CH), .MH(DENSE), .PE(DENSE_PE), .SIMD(DENSE_SIMD), .IN_W(CH), .NO_ACTIVATION(1'b0),
               .W_FILE(DENSE_W_FILE), .T_FILE(DENSE_T_FILE)) u_dense (
        .clk(clk), .rst_n(rst_n),
        .s_tdata(pool_tdata), .s_tvalid(pool_tvalid), .s_tready(pool_tready),
        .m_tdata(m_tdata), .m_tvalid(m_tvalid), .m_tready(m_tready));
endmodule

`resetall
