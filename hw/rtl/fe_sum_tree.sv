// fe_sum_tree: combinational balanced adder tree (helper of mvu_int8 and xnor_mvu).
//
//   sum = in[0] + in[1] + ... + in[N-1]   (two's complement, OUT_W bits; the caller sizes OUT_W so that the
//                                          exact sum fits)
//
// Element i of `in` is at bits [i*IN_W +: IN_W], signed (IN_SIGNED = 1, sign-extended) or unsigned (zero-extended).
// CHAIN = 1: ceil(log2(N)) levels of two-input adders whose outputs carry (* keep *), so that Yosys maps each adder
//   to a carry chain (for multi-bit inputs: 393 instead of 653 LUTs for 45 int8 inputs on xc7; the inputs stay
//   unkept so that the caller's input logic, e.g. mvu_int8's XOR, merges into the first adders).
// CHAIN = 0: the same sum written as one expression tree, which Yosys merges into one multi-operand adder and maps
//   to a LUT compressor tree (better for popcounts of 1-bit inputs: xnor_mvu).
// The callers put a register after each tree (and cut long reductions into groups of GS elements with a register
// between the group trees and the tree over the group sums).
module fe_sum_tree #(
    parameter int N = 4,
    parameter int IN_W = 8,
    parameter int OUT_W = 12,       // wide enough for the sum (narrower than IN_W: the inputs are cut)
    parameter bit IN_SIGNED = 1'b1,
    parameter bit CHAIN = 1'b1
) (
    input  logic [N*IN_W-1:0] in,
    output logic [OUT_W-1:0]  sum
);
    localparam int L = (N <= 1) ? 0 : $clog2(N);

    function automatic int level_size(input int l);   // nodes of level l
        int n;
        n = N;
        for (int i = 0; i < l; i++) n = (n + 1) / 2;
        return n;
    endfunction

    wire [N*OUT_W-1:0] leaf;        // the extended inputs
    genvar gi, gl;
    for (gi = 0; gi < N; gi++) begin : g_in
        if (OUT_W <= IN_W) begin : g_cut      // the caller knows the sum fits
            assign leaf[gi*OUT_W +: OUT_W] = in[gi*IN_W +: OUT_W];
        end else if (IN_SIGNED) begin : g_s
            assign leaf[gi*OUT_W +: OUT_W] = {{(OUT_W - IN_W){in[gi*IN_W + IN_W - 1]}}, in[gi*IN_W +: IN_W]};
        end else begin : g_u
            assign leaf[gi*OUT_W +: OUT_W] = {{(OUT_W - IN_W){1'b0}}, in[gi*IN_W +: IN_W]};
        end
    end

    if (L == 0) begin : g_one
        assign sum = leaf[0 +: OUT_W];
    end else if (CHAIN) begin : g_chain
        (* keep *) wire [L*N*OUT_W-1:0] nd;  // node (level l >= 1, index i) at [((l-1)*N + i)*OUT_W +: OUT_W]
        for (gl = 1; gl <= L; gl++) begin : g_lvl
            localparam int NP = level_size(gl - 1);
            localparam int NL = level_size(gl);
            for (gi = 0; gi < NL; gi++) begin : g_node
                localparam int D = ((gl - 1)*N + gi)*OUT_W;       // this node
                localparam int C = ((gl - 2)*N + 2*gi)*OUT_W;     // its first child (levels >= 2)
                if (gl == 1 && 2*gi + 1 < NP) begin : g_add_leaves
                    assign nd[D +: OUT_W] = leaf[(2*gi)*OUT_W +: OUT_W] + leaf[(2*gi + 1)*OUT_W +: OUT_W];
                end else if (gl == 1) begin : g_pass_leaf
                    assign nd[D +: OUT_W] = leaf[(2*gi)*OUT_W +: OUT_W];
                end else if (2*gi + 1 < NP) begin : g_add_nodes
                    assign nd[D +: OUT_W] = nd[C +: OUT_W] + nd[C + OUT_W +: OUT_W];
                end else begin : g_pass_node
                    assign nd[D +: OUT_W] = nd[C +: OUT_W];
                end
            end
        end
        assign sum = nd[(L - 1)*N*OUT_W +: OUT_W];
    end else begin : g_merged
        logic [(L+1)*N*OUT_W-1:0] t;         // level l, index i at [(l*N + i)*OUT_W +: OUT_W]
        always_comb begin
            int n;
            t = '0;
            t[N*OUT_W-1:0] = leaf;
            n = N;
            for (int l = 1; l <= L; l++) begin
                for (int i = 0; i < N; i++) begin
                    if (2 * i + 1 < n)
                        t[(l*N + i)*OUT_W +: OUT_W] = t[((l-1)*N + 2*i)*OUT_W +: OUT_W]
                                                    + t[((l-1)*N + 2*i + 1)*OUT_W +: OUT_W];
                    else if (2 * i < n)
                        t[(l*N + i)*OUT_W +: OUT_W] = t[((l-1)*N + 2*i)*OUT_W +: OUT_W];
                end
                n = (n + 1) / 2;
            end
        end
        assign sum = t[L*N*OUT_W +: OUT_W];
    end
endmodule
