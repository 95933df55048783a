"""The SAT accelerator system on Verilator: programs run from a DRAM image, end to end."""
