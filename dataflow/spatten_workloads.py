"""The public SpAtten traces (read in place from ``../shared/data/spatten-traces``)."""

from pathlib import Path

__all__ = ["PUBLIC_TRACES", "public_trace_dir", "public_traces"]

# model -> (trace, dense trace of the same workload or None). The public GPT-2 Medium trace is
# the dense PTB baseline only (../shared/data/spatten-traces/README.md).
PUBLIC_TRACES: dict[str, tuple[str, str | None]] = {
    "gpt2-small": ("summary-gpt2-small-wikitext2-per8.csv",
                   "summary-gpt2-small-wikitext2-per8-step1+dedic.csv"),
    "gpt2-medium": ("summary-gpt2-medium-ptb-per0.csv", None),
}


def public_trace_dir() -> Path:
    """``shared/data/spatten-traces`` beside the checkout (the data is not copied in)."""
    return Path(__file__).resolve().parents[2] / "shared" / "data" / "spatten-traces"


def public_traces(model: str) -> tuple[Path, Path | None]:
    """Paths of the public trace of ``model`` and of its dense baseline (or None).

    Raises
    ------
    ValueError
        For a model without a public trace, or when the traces folder is missing.
    """
    if model not in PUBLIC_TRACES:
        raise ValueError(f"no public trace for model {model!r}; the public traces are for "
                         f"{sorted(PUBLIC_TRACES)} (or pass a trace file)")
    folder = public_trace_dir()
    if not folder.is_dir():
        raise ValueError(f"the public traces folder {folder} is missing; pass a trace file")
    trace, dense = PUBLIC_TRACES[model]
    return folder / trace, None if dense is None else folder / dense
