"""cocotb-on-Verilator tests of the generated Verilog (marker ``rtl``)."""
