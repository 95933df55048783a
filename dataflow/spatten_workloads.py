"""The public SpAtten traces, shipped as package data (``spatten_traces/``, MIT licence).

The three summary traces of the authors' repository are kept unchanged beside their licence and
a README naming the source repository and commit; they are read with ``importlib.resources``,
so an installed wheel needs nothing outside itself.
"""

from importlib import resources
from pathlib import Path

__all__ = ["PUBLIC_TRACES", "public_trace_dir", "public_traces"]

# model -> (trace, dense trace of the same workload or None). The public GPT-2 Medium trace is
# the dense PTB baseline only (spatten_traces/README.md).
PUBLIC_TRACES: dict[str, tuple[str, str | None]] = {
    "gpt2-small": ("summary-gpt2-small-wikitext2-per8.csv",
                   "summary-gpt2-small-wikitext2-per8-step1+dedic.csv"),
    "gpt2-medium": ("summary-gpt2-medium-ptb-per0.csv", None),
}


def public_trace_dir() -> Path:
    """The folder of the packaged public traces (``sparsa/dataflow/spatten_traces``)."""
    return Path(str(resources.files(__package__) / "spatten_traces"))


def public_traces(model: str) -> tuple[Path, Path | None]:
    """Paths of the public trace of ``model`` and of its dense baseline (or None).

    Raises
    ------
    ValueError
        For a model without a public trace.
    """
    if model not in PUBLIC_TRACES:
        raise ValueError(f"no public trace for model {model!r}; the public traces are for "
                         f"{sorted(PUBLIC_TRACES)} (or pass a trace file)")
    folder = public_trace_dir()
    trace, dense = PUBLIC_TRACES[model]
    return folder / trace, None if dense is None else folder / dense
