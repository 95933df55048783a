"""The main job: one report with a section per block, written atomically."""

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from sparsa.files import check_writable_place
from sparsa.reports.accuracy_report import bdwp_accuracy_section
from sparsa.reports.baseline_report import baseline_section
from sparsa.reports.headline_report import headline_section
from sparsa.reports.html import markdown_to_html
from sparsa.reports.network_report import sat_training_section, spatten_traces_section
from sparsa.reports.sat_report import sat_section
from sparsa.reports.spatten_figures import spatten_figures_section
from sparsa.reports.spatten_report import spatten_own_section
from sparsa.reports.synthesis_report import synthesis_section
from sparsa.reports.system_report import system_section
from sparsa.reports.topk_report import topk_section
from sparsa.reports.verification_report import verification_section

__all__ = ["REPORT_MARKER", "build_report", "check_report_dir"]

REPORT_MARKER = ".sparsa-report"
"""The file every report folder holds: a folder with it is a report sparsa may replace."""


def check_report_dir(out_dir: Path | str, *, force: bool = False) -> None:
    """Check, before any work, that the report can go to ``out_dir`` without losing anything:
    a new folder (its first existing parent a writable folder), an empty one, or a previous
    report (it holds :data:`REPORT_MARKER`); with ``force``, any folder.

    Raises
    ------
    ValueError
        Naming the path and why it cannot take the report.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out} is a file, not a folder for the report")
    if out.is_dir() and not force and any(out.iterdir()) and not (out / REPORT_MARKER).is_file():
        raise ValueError(f"{out} holds files and is not a previous sparsa report (it has no "
                         f"{REPORT_MARKER}); name a new or empty folder, or pass --force to "
                         "replace it")
    check_writable_place(out)


def build_report(
    out_dir: Path | str, *, quick: bool = False, progress: Callable[[str], None] | None = None,
    force: bool = False,
) -> Path:
    """Write the report into ``out_dir`` and return the path of its Markdown file (an HTML
    copy with the figures inline beside it, ``report.html``).

    The report is assembled in a temporary folder beside ``out_dir`` and moved into place at
    the end, so an interrupted run never leaves a half-written report.

    Parameters
    ----------
    out_dir : path
        Report folder: new, empty, or a previous report (replaced); with ``force``, any folder
        (:func:`check_report_dir`).
    quick : bool
        Fewer random trials in the top-k sweep and a smaller layer in the SAT bench.
    progress : callable, optional
        Receives a short line for each step.
    force : bool
        Replace a folder that is not a previous report.

    Raises
    ------
    ValueError
        From :func:`check_report_dir`, before any work.
    """
    check_report_dir(out_dir, force=force)
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
        text = "\n".join([header, *sections])
        (stage / "report.md").write_text(text)
        (stage / "report.html").write_text(markdown_to_html(text, stage))
        (stage / REPORT_MARKER).write_text(f"written by {command}\n")
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    if out.exists():  # out of the way first, so the report is never missing and half-gone
        old = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.old."))
        out.rename(old / out.name)
        stage.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        stage.rename(out)
    return out / "report.md"
