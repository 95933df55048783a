"""sparsa: a hardware co-design suite for sparse deep-learning accelerators (SpAtten, SAT)."""
