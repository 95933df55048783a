"""Report section: the BDWP accuracy experiment (dense, SR-STE and BDWP at N:M, over seeds)."""

import json
from collections.abc import Callable
from pathlib import Path

from sparsa.models.experiments.bdwp_accuracy import PRECISIONS, run_bdwp_accuracy

__all__ = ["bdwp_accuracy_section"]


def bdwp_accuracy_section(stage: Path, *, quick: bool, say: Callable[[str], None]) -> str:
    """Train and evaluate the BDWP experiment
    (:func:`sparsa.models.experiments.bdwp_accuracy.run_bdwp_accuracy`, its quick preset when
    ``quick``, in fp32 and bf16 mixed precision), write ``bdwp_accuracy.json`` and return the
    section."""
    say(f"training the BDWP accuracy experiment ({'quick' if quick else 'full'}: dense, SR-STE "
        "and BDWP on the digits set, fp32 and bf16)")
    result = run_bdwp_accuracy(quick=quick, precisions=PRECISIONS)
    (stage / "bdwp_accuracy.json").write_text(json.dumps(result.to_dict(), indent=2) + "\n")
    note = ("Quick mode trains 4 epochs with one seed: a smoke check of the machinery, not a "
            "comparison of the methods.\n\n" if quick else "")
    return f"""## BDWP accuracy (SAT's training method)

`sparsa.models.experiments.bdwp_accuracy.run_bdwp_accuracy(quick={quick}, precisions={PRECISIONS})`:
a small CNN and a ResNet-8 trained from scratch on scikit-learn's bundled 8 x 8 digits (no
download), dense, SR-STE and BDWP at 2:4, 2:8 and 1:4, held-out top-1 over seeds; after training
the deployed forward weights are checked to be exactly N:M. Every case trains in FP32; dense and
BDWP at 2:8 also train in bf16 mixed precision (FP32 master weights, bfloat16 GEMMs), shown in the
bf16 columns beside FP32. The digits set is easy (dense reaches about 99%), so differences of a
few tenths of a point are within the seed-to-seed spread.

{note}{result.to_markdown()}
"""
