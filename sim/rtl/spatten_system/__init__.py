"""The SpAtten system end to end on Verilator: bench, runs and their checks."""
