"""The README's Python examples run as written, each on its own, without warnings."""

import re
import warnings
from pathlib import Path

import pytest

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()
BLOCKS = re.findall(r"```python\n(.*?)```", README, re.S)


def test_readme_has_examples():
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs_on_its_own(index, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing may be written beside the reader's files
    namespace = {}
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # e.g. Keras's "shuffle=True ... will be ignored"
        exec(compile(BLOCKS[index], "README.md", "exec"), namespace)
    assert not list(tmp_path.iterdir())
    if "upper" in namespace:
        assert namespace["lower"] <= namespace["upper"]
