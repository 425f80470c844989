# Vitis HLS: C simulation (optional), synthesis and IP export of the binary BiLSTM kernel (binary_lstm_top).
#
#   vitis_hls -f hw/hls/csynth.tcl -tclargs <params dir> [part]
#
# <params dir> holds params.h (bcrnn.hls_lstm.write_params_header, `python -m bcrnn.hls_lstm`, or run_csim's
# build_dir); default: $BCRNN_HLS_PARAMS, else the current directory. part: default $BCRNN_HLS_PART, else
# xczu3eg-sbva484-1-e (Ultra96-V2). BCRNN_HLS_CSIM=1 first runs the C test bench on <params dir>/input.txt and,
# where <params dir>/output.txt exists (written by bcrnn.hls_lstm.run_csim), requires the same output bits.
# The project goes to ./bcrnn_lstm_hls (BCRNN_HLS_PROJECT to change); the IP to its solution's impl/ip.

set here [file dirname [file normalize [info script]]]
# Vitis passes the script's arguments after -tclargs; some versions keep the whole command line in argv.
set args $argv
set i [lsearch -exact $args "-tclargs"]
if {$i >= 0} {
    set args [lrange $args [expr {$i + 1}] end]
} elseif {[lsearch -glob $args "-*"] >= 0} {
    set args {}
}

proc setting {args_list index env_name default} {
    if {[llength $args_list] > $index} { return [lindex $args_list $index] }
    if {[info exists ::env($env_name)] && $::env($env_name) ne ""} { return $::env($env_name) }
    return $default
}
set params_dir [file normalize [setting $args 0 BCRNN_HLS_PARAMS [pwd]]]
set part [setting $args 1 BCRNN_HLS_PART xczu3eg-sbva484-1-e]
set project [setting {} 0 BCRNN_HLS_PROJECT bcrnn_lstm_hls]
set csim [setting {} 0 BCRNN_HLS_CSIM 0]
if {![file exists [file join $params_dir params.h]]} {
    error "no params.h in $params_dir (write it with: python -m bcrnn.hls_lstm model.packed.npz --pe 4 --simd 16 --out $params_dir/params.h)"
}
set cflags "-std=c++14 -I$params_dir -I$here"

open_project -reset $project
set_top binary_lstm_top
add_files [file join $here binary_lstm_top.cpp] -cflags $cflags
add_files -tb [file join $here tb binary_lstm_tb.cpp] -cflags $cflags
open_solution -reset sol1 -flow_target vivado
set_part $part
create_clock -period 5 -name default

if {$csim} {
    set input [file join $params_dir input.txt]
    set result [file join $params_dir csim_output.txt]
    csim_design -argv "$input $result"
    set expected [file join $params_dir output.txt]
    if {[file exists $expected]} {
        set fa [open $expected]; set a [read $fa]; close $fa
        set fb [open $result]; set b [read $fb]; close $fb
        if {$a ne $b} { error "Vitis C simulation output differs from $expected" }
        puts "Vitis C simulation: output bits equal $expected"
    }
}
csynth_design
export_design -format ip_catalog
exit
