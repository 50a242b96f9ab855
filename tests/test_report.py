"""The README's generated tables and the notebook catalogue."""

import report
import reproduce


def test_catalog_lists_every_notebook_in_order():
    assert [stem for stem, _, _ in report.CATALOG] == [p.stem for p in reproduce.notebook_sources()]


def test_readme_and_summary_are_generated_from_results():
    assert report.main(["--check"]) == 0, "run `python tools/report.py` (make reproduce does it)"


def test_readme_claims_table_has_every_claim_with_its_verdict():
    readme = report.README.read_text()
    claims = report.load_claims()
    for claim in claims:
        row = next(line for line in readme.splitlines() if f"`{claim.id}`" in line)
        assert f"| {report.verdict_markdown(claim.verdict)} |" in row
        assert f"| {claim.kind} |" in row
    assert report.tally(claims) in readme


def test_tally_separates_the_article_from_our_checks():
    def claim(kind, verdict):
        return report.Claim("01_x", "c", "S.", "eq. (1)", kind, verdict, "", "")

    claims = [claim("article", "holds"), claim("erratum", "holds"), claim("gap", "inconclusive"),
              claim("article", "does not hold"), claim("beyond", "holds")]
    assert report.tally(claims) == ("Of the article's 4 claims, 2 hold, 1 do not, 1 are inconclusive at this "
                                    "scale; of our 1 further checks, 1 hold, 0 do not, 0 are inconclusive")


def test_key_measurement_prefers_the_evidence():
    evidence = {"estimate": 0.0123, "ci": [0.001, 0.02], "n": 10, "level": 0.95}
    assert report.key_measurement({"measured": {"a": 1}, "evidence": evidence}) == "0.0123 [0.001, 0.02], n = 10"
    assert report.key_measurement({"measured": {"a": 1}}) == "a = 1"
    parts = {"batch 32": evidence, "batch 512": evidence}
    assert report.key_measurement({"measured": {}, "evidence": parts}).startswith("batch 32: 0.0123 [")


def test_measured_summary_is_short_and_numeric():
    text = report.measured_summary({"a": 0.123456, "b": {"c": [1, 2, 3, 4, 5, 6]}, "d": True, "e": 3, "f": "x"})
    assert text == "a = 0.123; d = true; e = 3; f = x; … (1 more in the JSON)"
    text = report.measured_summary({"b": {"c": [1, 2, 3, 4, 5, 6]}, "d": 1e-9})
    assert text == "d = 1e-09; b.c = 6 values in [1, 6]"
    assert report.measured_summary({"v": [0.5, 2.0]}) == "v = [0.5, 2]"


def test_readme_benchmark_tables_are_the_recorded_ones():
    readme = report.README.read_text()
    results = report.ROOT / "benchmarks" / "results"
    quoted = {p for p in results.glob("*.md") if p.stem != "gpu"}  # gpu.md is long; README quotes its summary
    for md in sorted(quoted):
        block = f"<!-- bench:{md.stem} -->\n{md.read_text()}<!-- /bench:{md.stem} -->"
        assert block in readme, f"README's {md.stem} benchmark table differs from {md.relative_to(report.ROOT)}"
    assert {p.stem for p in quoted} == {"foundation", "layers", "gan", "backends", "gpu_summary", "dispatch"}
