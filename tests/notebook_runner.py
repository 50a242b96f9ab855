"""Executes one notebook source with papermill for the tests, outside the committed files."""

import json
import os

import jupytext
import nbformat
import papermill
import reproduce


def execute_notebook(source, workdir, **parameters):
    """Run ``source`` (a jupytext .py) in ``workdir`` with ``parameters``; return the results path."""
    nb = jupytext.read(source)
    nb.metadata["kernelspec"] = dict(reproduce.KERNELSPEC)
    inp, out, res = workdir / "in.ipynb", workdir / "out.ipynb", workdir / "results.json"
    nbformat.write(nb, inp)
    os.environ["LIPNB_RESULTS_PATH"] = str(res)
    try:
        papermill.execute_notebook(str(inp), str(out), parameters=parameters,
                                   kernel_name=reproduce.KERNEL, cwd=str(reproduce.NOTEBOOKS),
                                   progress_bar=False, extra_arguments=reproduce.KERNEL_ARGUMENTS)
    finally:
        os.environ.pop("LIPNB_RESULTS_PATH")
    return res


def recorded_claims(results_path):
    return json.loads(results_path.read_text())["claims"]
