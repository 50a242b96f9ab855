"""The README's Python examples run as written."""

import re
from pathlib import Path


README = (Path(__file__).resolve().parent.parent / "README.md").read_text()
BLOCKS = re.findall(r"```python\n(.*?)```", README, re.S)


def test_readme_has_examples():
    assert len(BLOCKS) >= 2


def test_readme_examples_run():
    namespace = {}
    for block in BLOCKS:  # later blocks may use names from earlier ones
        exec(compile(block, "README.md", "exec"), namespace)
    assert namespace["lower"] <= namespace["upper"]
