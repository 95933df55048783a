"""The main job: one report with a section per block, written atomically."""

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from sparsa.reports.accuracy_report import bdwp_accuracy_section
from sparsa.reports.baseline_report import baseline_section
from sparsa.reports.headline_report import headline_section
from sparsa.reports.network_report import sat_training_section, spatten_traces_section
from sparsa.reports.sat_report import sat_section
from sparsa.reports.spatten_figures import spatten_figures_section
from sparsa.reports.spatten_report import spatten_own_section
from sparsa.reports.synthesis_report import synthesis_section
from sparsa.reports.system_report import system_section
from sparsa.reports.topk_report import topk_section
from sparsa.reports.verification_report import verification_section

__all__ = ["build_report"]


def build_report(
    out_dir: Path | str, *, quick: bool = False, progress: Callable[[str], None] | None = None
) -> Path:
    """Write the report into ``out_dir`` and return the path of its Markdown file.

    The report is assembled in a temporary folder beside ``out_dir`` and moved into place at
    the end, so an interrupted run never leaves a half-written report.

    Parameters
    ----------
    out_dir : path
        Report folder (replaced if it exists).
    quick : bool
        Fewer random trials in the top-k sweep and a smaller layer in the SAT bench.
    progress : callable, optional
        Receives a short line for each step.
    """
    say = progress or (lambda _msg: None)
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    command = "sparsa report" + (" --quick" if quick else "")
    stage = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}."))
    try:
        sections = [
            topk_section(stage, quick=quick, say=say),
            verification_section(stage, quick=quick, say=say),
            sat_section(stage, quick=quick, say=say),
            system_section(stage, quick=quick, say=say),
            synthesis_section(stage, quick=quick, say=say),
            sat_training_section(stage, say=say),
            spatten_traces_section(stage, quick=quick, say=say),
            spatten_own_section(stage, quick=quick, say=say),
            baseline_section(stage, quick=quick, say=say),
            spatten_figures_section(stage, quick=quick, say=say),
            bdwp_accuracy_section(stage, quick=quick, say=say),
        ]
        sections.append(headline_section(stage))
        header = (f"# sparsa report\n\nProduced by `{command}`; every figure below comes from "
                  "this run unless it is marked as quoted.\n")
        (stage / "report.md").write_text("\n".join([header, *sections]))
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    if out.exists():
        shutil.rmtree(out)
    stage.rename(out)
    return out / "report.md"
