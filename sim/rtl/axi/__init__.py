"""AXI benches: the DRAM model of cocotb runs, the AXI4 engines' and register file's checks."""
