"""PyTorch golden models: float references and bit-exact integer functions."""
