"""Operation descriptions, tiling and scheduling (filled by later issues)."""
