"""The one matplotlib style every notebook uses."""

from __future__ import annotations

import matplotlib

__all__ = ["STYLE", "use_style"]

# Small dpi keeps rendered notebooks light; sizes suit a single-column page.
STYLE = {
    "figure.figsize": (6.4, 3.8),
    "figure.dpi": 80,
    "savefig.dpi": 80,
    "figure.constrained_layout.use": True,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "lines.linewidth": 1.6,
    "image.cmap": "viridis",
    "svg.hashsalt": "lipnb",  # deterministic ids if a figure is saved as SVG
}


def use_style() -> None:
    """Apply lipnb's matplotlib style globally (idempotent)."""
    matplotlib.rcParams.update(STYLE)
    try:  # inside a kernel: PNG output keeps notebooks small and diff-stable
        from IPython import get_ipython

        ip = get_ipython()
        if ip is not None:
            ip.run_line_magic("config", "InlineBackend.figure_formats = ['png']")
            ip.run_line_magic("config", "InlineBackend.rc = {}")
    except ImportError:  # pragma: no cover - IPython is always there in notebooks
        pass
