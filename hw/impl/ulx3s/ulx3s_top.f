# ulx3s_top's sources besides the generated bcrnn_top.sv and pll.v; paths relative to this file.
../../rtl/bcrnn_top.f
../../rtl/uart_rx.sv
../../rtl/uart_tx.sv
../../rtl/bcrnn_uart.sv
ulx3s_top.sv
