"""Notebook pairing, staleness, results schema and papermill smoke runs."""

import json

import jupytext
import papermill
import pytest
import reproduce
from notebook_runner import execute_notebook

from lipnb import stats

SOURCES = reproduce.notebook_sources()
NAMES = [s.stem for s in SOURCES]


def cells(nb):
    return [(c.cell_type, c.source.strip()) for c in nb.cells
            if "injected-parameters" not in c.metadata.get("tags", [])]


def test_there_are_notebooks():
    assert len(SOURCES) >= 4


@pytest.mark.parametrize("source", SOURCES, ids=NAMES)
def test_pair_inputs_are_identical(source):
    ipynb = source.with_suffix(".ipynb")
    assert ipynb.exists(), f"{ipynb.name} is missing: run make reproduce"
    assert cells(jupytext.read(source)) == cells(jupytext.read(ipynb))


@pytest.mark.parametrize("source", SOURCES, ids=NAMES)
def test_one_parameters_cell_of_literals(source):
    nb = jupytext.read(source)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    names = set()
    for line in tagged[0].source.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, value = (part.strip() for part in line.split("=", 1))
            eval(value, {"__builtins__": {}})  # a plain literal
            names.add(name)
    assert {"profile", "seed"} <= names


@pytest.mark.parametrize("source", SOURCES, ids=NAMES)
def test_committed_outputs_are_not_stale(source):
    """The rendered notebook and results must come from the committed source and lipnb."""
    ipynb, results = reproduce.output_paths(source, "quick")
    want = reproduce.stamp(source, reproduce.package_hash(), "quick")
    meta = json.loads(ipynb.read_text())["metadata"].get("lipnb", {})
    data = json.loads(results.read_text())
    for key, value in want.items():
        assert meta.get(key) == value, f"{ipynb.name}: {key} is stale; run make reproduce"
        assert data.get(key) == value, f"{results.name}: {key} is stale; run make reproduce"


@pytest.mark.parametrize("source", SOURCES, ids=NAMES)
def test_committed_notebook_has_outputs_and_no_errors(source):
    raw = json.loads(source.with_suffix(".ipynb").read_text())
    code = [c for c in raw["cells"] if c["cell_type"] == "code"]
    assert any(c.get("outputs") for c in code)
    assert not any(o.get("output_type") == "error" for c in code for o in c.get("outputs", []))


EVIDENCE_KEYS = {"estimate", "ci", "level", "n", "null", "direction", "method", "rule"}


def check_evidence(part):
    assert EVIDENCE_KEYS <= set(part), f"evidence lacks {EVIDENCE_KEYS - set(part)}"
    lo, hi = part["ci"]
    assert lo <= part["estimate"] <= hi and part["n"] >= 2 and 0.5 <= part["level"] < 1
    return stats.Evidence.from_dict(part).verdict  # checked again as when made, and decided by the same rule


# Stderr a committed notebook may show, each with the reason it is acceptable. Native
# library logs go to the kernel log (reproduce.KERNEL_ARGUMENTS), so this starts empty.
ALLOWED_STDERR: list[tuple[str, str]] = []


@pytest.mark.parametrize("source", SOURCES, ids=NAMES)
def test_committed_notebook_has_no_unexpected_stderr(source):
    import re

    raw = json.loads(source.with_suffix(".ipynb").read_text())
    unexpected = []
    for i, cell in enumerate(raw["cells"]):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                for line in "".join(out["text"]).splitlines():
                    if line.strip() and not any(re.search(p, line) for p, _ in ALLOWED_STDERR):
                        unexpected.append(f"cell {i}: {line[:160]}")
    assert not unexpected, f"{source.stem} shows stderr to readers:\n" + "\n".join(unexpected[:10])


def check_results(data, name, profile):
    """The schema of issue 9: verdict, kind, evidence, and each verdict consistent with its CIs."""
    assert data["notebook"] == name and data["profile"] == profile
    assert isinstance(data["seed"], int) and data["claims"]
    for claim in data["claims"]:
        assert {"id", "statement", "article", "kind", "measured", "verdict"} <= set(claim)
        assert "holds" not in claim, "the boolean holds is replaced by verdict"
        assert claim["verdict"] in stats.VERDICTS and claim["kind"] in stats.KINDS
        assert claim["statement"] and claim["article"] and claim["measured"]
        if claim["verdict"] == "inconclusive":
            assert claim.get("note"), f"{claim['id']}: an inconclusive claim must say what would decide it"
        evidence = claim.get("evidence")
        if evidence is not None:
            parts = [evidence] if "estimate" in evidence else list(evidence.values())
            assert claim["verdict"] == stats.combine(check_evidence(p) for p in parts), claim["id"]


@pytest.mark.parametrize("source", SOURCES, ids=NAMES)
def test_committed_results_schema(source):
    data = json.loads(reproduce.output_paths(source, "quick")[1].read_text())
    check_results(data, source.stem, "quick")
    assert len({c["id"] for c in data["claims"]}) == len(data["claims"])


@pytest.mark.notebook
@pytest.mark.parametrize("source", SOURCES, ids=NAMES)
def test_smoke_run_writes_valid_verdicts(source, tmp_path):
    res = execute_notebook(source, tmp_path, profile="smoke")
    check_results(json.loads(res.read_text()), source.stem, "smoke")


@pytest.mark.notebook
def test_unknown_parameter_and_profile_are_errors(tmp_path):
    source = SOURCES[0]
    with pytest.raises(papermill.PapermillExecutionError, match="unknown parameter\\(s\\) epochs"):
        execute_notebook(source, tmp_path, profile="smoke", epochs=3)
    with pytest.raises(papermill.PapermillExecutionError, match="unknown profile 'huge'"):
        execute_notebook(source, tmp_path, profile="huge")


def _profiles(source):
    """The literal profiles dict a notebook passes to start_notebook."""
    import ast

    def literal(node):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "dict":
            return {k.arg: literal(k.value) for k in node.keywords}
        if isinstance(node, ast.Dict):
            return {literal(k): literal(v) for k, v in zip(node.keys, node.values)}
        return ast.literal_eval(node)

    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "start_notebook":
            return literal({k.arg: k.value for k in node.keywords}["profiles"])
    raise AssertionError(f"{source.name} does not call lipnb.start_notebook(..., profiles=...)")


@pytest.mark.parametrize("source", SOURCES, ids=NAMES)
def test_full_profile_scales_up_the_quick_one(source):
    """The full profile (meant for a GPU, not run by the tests) names the smoke and quick
    settings and is at least as large in each, larger in some."""
    profiles = _profiles(source)
    assert set(profiles) == {"smoke", "quick", "full"}
    quick, full = profiles["quick"], profiles["full"]
    assert set(profiles["smoke"]) == set(quick) == set(full)
    size = lambda v: len(v) if isinstance(v, (list, tuple)) else v  # noqa: E731
    numeric = [k for k, v in quick.items() if isinstance(size(v), (int, float)) and not isinstance(v, bool)]
    assert all(size(full[k]) >= size(quick[k]) for k in numeric), {k: (quick[k], full[k]) for k in numeric}
    assert any(size(full[k]) > size(quick[k]) for k in numeric)
