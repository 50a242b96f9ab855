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
        assert ("**does not hold**" in row) == (not claim.holds)
    assert report.tally(claims) in readme


def test_article_flags():
    assert report.article_flag("eq. (7) (erratum)") == "erratum"
    assert report.article_flag("eqs. (15)-(20) (gap: c1 != 0)") == "gap"
    assert report.article_flag("eq. (10) (our observation, not the article's)") == "beyond the article"
    assert report.article_flag("eq. (21)") == ""


def test_measured_summary_is_short_and_numeric():
    text = report.measured_summary({"a": 0.123456, "b": {"c": [1, 2, 3, 4, 5, 6]}, "d": True, "e": 3, "f": "x"})
    assert text == "a = 0.123; d = true; e = 3; f = x; … (1 more in the JSON)"
    text = report.measured_summary({"b": {"c": [1, 2, 3, 4, 5, 6]}, "d": 1e-9})
    assert text == "d = 1e-09; b.c = 6 values in [1, 6]"
    assert report.measured_summary({"v": [0.5, 2.0]}) == "v = [0.5, 2]"


def test_readme_benchmark_tables_are_the_recorded_ones():
    readme = report.README.read_text()
    results = report.ROOT / "benchmarks" / "results"
    for md in sorted(results.glob("*.md")):
        block = f"<!-- bench:{md.stem} -->\n{md.read_text()}<!-- /bench:{md.stem} -->"
        assert block in readme, f"README's {md.stem} benchmark table differs from {md.relative_to(report.ROOT)}"
    assert {p.stem for p in results.glob("*.md")} == {"foundation", "layers", "gan"}
