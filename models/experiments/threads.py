"""PyTorch CPU thread count for a block of work (the experiments and model runs)."""

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from sparsa.config.checks import is_int

__all__ = ["torch_threads"]


@contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Run the body with ``threads`` PyTorch CPU threads, then restore the previous count.

    The runs default to one thread: on a busy 2-core machine two threads were several times
    slower, and results are bit-reproducible only at a fixed thread count.
    """
    if not is_int(threads) or threads < 1:
        raise ValueError(f"threads must be a positive integer, not {threads!r}")
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
