"""Amaranth hardware designs of sparsa and their Verilog export."""
