"""How tensors lie in a system's DRAM: packed bit streams of equal rows.

A transfer starts at bit 0 of a word-aligned address and holds its rows one after another,
row i at bits ``i * row_width`` onwards, with no padding between rows; the last word is padded
with zeros. This is the layout the gearboxes of :mod:`sparsa.hw.common.gearbox` read and
write, and the one the DRAM image of a program is built in.
"""

from collections.abc import Sequence

__all__ = ["pack_bytes", "pack_rows", "unpack_bytes", "unpack_rows"]


def pack_rows(rows: Sequence[int], row_width: int, word_width: int) -> list[int]:
    """The words that hold ``rows`` (unsigned integers below ``2 ** row_width``).

    Raises
    ------
    ValueError
        If a row does not fit ``row_width`` bits.
    """
    stream = 0
    for i, row in enumerate(rows):
        if not 0 <= row < 1 << row_width:
            raise ValueError(f"row {i} = {row} does not fit {row_width} bits")
        stream |= row << (i * row_width)
    count = -(-len(rows) * row_width // word_width)
    mask = (1 << word_width) - 1
    return [stream >> (i * word_width) & mask for i in range(count)]


def unpack_rows(words: Sequence[int], row_width: int, word_width: int, rows: int) -> list[int]:
    """The first ``rows`` rows packed in ``words`` (the inverse of :func:`pack_rows`).

    Raises
    ------
    ValueError
        If ``words`` hold fewer than ``rows`` rows.
    """
    if len(words) * word_width < rows * row_width:
        raise ValueError(
            f"{len(words)} words of {word_width} bits hold fewer than {rows} rows of "
            f"{row_width} bits"
        )
    stream = sum(w << (i * word_width) for i, w in enumerate(words))
    mask = (1 << row_width) - 1
    return [stream >> (i * row_width) & mask for i in range(rows)]


def pack_bytes(rows: Sequence[int], row_width: int, word_width: int) -> bytes:
    """The bytes of the whole words of :func:`pack_rows`, little-endian words as they lie in
    DRAM.

    Raises
    ------
    ValueError
        If a row does not fit ``row_width`` bits.
    """
    word_bytes = word_width // 8
    return b"".join(w.to_bytes(word_bytes, "little")
                    for w in pack_rows(rows, row_width, word_width))


def unpack_bytes(data: bytes, row_width: int, rows: int) -> list[int]:
    """The first ``rows`` rows of ``row_width`` bits in ``data`` (the inverse of
    :func:`pack_bytes`).

    Raises
    ------
    ValueError
        If ``data`` holds fewer than ``rows`` rows.
    """
    return unpack_rows(list(data), row_width, 8, rows)
