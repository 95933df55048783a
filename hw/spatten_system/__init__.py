"""SpAtten as a system: the attention core with its fetcher, pruning and AXI ports."""
