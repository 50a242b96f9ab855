"""The reproduction report: notebook catalogue and claims tables for the README and the site.

Everything here is generated from ``results/*.json`` and the catalogue below, so the
README's tables cannot drift from what the notebooks measured. ``make reproduce``
refreshes them; ``python tools/report.py --check`` fails when they are stale.

Like ``reproduce.py`` this module imports neither TensorFlow nor lipnb.
"""

from __future__ import annotations

import argparse
import html
import json
import math
import re
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare_results import TIMING_KEY  # noqa: E402  (one definition of what counts as a timing)

ROOT = Path(__file__).resolve().parent.parent


def _load_tables():
    """lipnb/tables.py on its own: it imports nothing from lipnb, and lipnb imports TensorFlow."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("_lipnb_tables", ROOT / "lipnb" / "tables.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tables = _load_tables()
ARTICLE_KINDS = ("article", "erratum", "gap")  # the article's own claims; "beyond" is ours
RESULTS = ROOT / "results"
README = ROOT / "README.md"

# The article's order. One line each on what the notebook shows; the title and the
# derivation live in the notebook itself.
CATALOG = [
    ("01_lipschitz_constraint", "eqs. (1)–(6)",
     "finite differences ≤ largest gradient norm ≤ product of layer norms on a trained MLP; activation "
     "bounds; residual blocks; perturbations against the bound"),
    ("02_frobenius_bound", "eqs. (7)–(10)",
     "‖W‖₂ ≤ ‖W‖_F ≤ √rank ‖W‖₂ with its equality cases; looseness against size, with theory; trained layers"),
    ("03_l2_weight_decay", "eqs. (11)–(12)",
     "the l2 penalty is weight decay for SGD (to round-off) but not for Adam; a λ sweep of the Lipschitz "
     "bound, sensitivity and generalization"),
    ("04_power_iteration", "eqs. (13)–(20)",
     "‖W‖₂ = √λ_max(WᵀW); the spectral-radius erratum; measured convergence rates; the all-ones start "
     "failing; tied singular values; tracking σ during training, with and without spectral normalization"),
    ("05_spectral_norm_regularization", "eq. (21)",
     "the large-batch generalization gap and whether SN-reg closes it (tuned on validation); none, l2, SN-reg, "
     "SN and a supervised gradient penalty on one trade-off curve of accuracy, certified bound and PGD "
     "robustness, compared at matched clean accuracy"),
    ("06_wgan_gp_vs_sn", "eqs. (22)–(26)",
     "GP, one-sided GP and SN (leaky relu, MaxMin, hinge loss) on 8 and 25 Gaussians and the Swiss roll under a fair protocol: a settings grid over λ and learning rate with a robustness table, settings chosen on validation scores, fresh test seeds, sliced W1 on 2048 points against the measured noise floor, predefined convergence measures; whether the GANs learn; the critics' slopes; GP's cost per step; where GP holds the constraint; SN layers as trained; critics' tightness against a known W1; digits at WGAN-GP's image setting"),  # noqa: E501
    ("07_conditional_many_classes", "discussion of eq. (26)",
     "conditional WGAN on K classes at a fixed class spacing (per-class W1 in spacing units, on-class fraction per K, λ chosen on validation, 3 seeds) and an unconditional K-mode arm: where the interpolates of eq. (26) fall, the critics' slopes on and away from them, the projection critic's bound of 2, and 10-class conditional digits"),  # noqa: E501
    ("08_constraint_vs_reparameterization", "the Keras detail",
     "post-step constraint (clip to the ball, and the article's W ← W/σ) vs Keras's SN vs lipnb's reparameterization: gradients against the exact one, GAN outcomes over 5 seeds against the noise floor, each layer's stable rank through training (the mechanism: the post-step constraint collapses layers toward rank one), Keras's inference pitfall, stale vectors in custom loops"),  # noqa: E501
    ("09_convolution_operator_norm", "eq. (7) for convolutions",
     "reshaped-kernel norm ≤ operator norm ≤ √(k_h k_w) × it; FFT and Lanczos against the dense SVD; SN by "
     "the reshaped kernel is not 1-Lipschitz, SN by the operator norm is"),
    ("10_certified_robustness", "eqs. (1)–(3), beyond the article",
     "the margin certificate m / (√2 L), exact on linear models; certified accuracy against ε on digits for no "
     "constraint, l2 (tuned on validation), SN by reshaped kernel, by operator norm, and with MaxMin; the audit: "
     "certificates that trust reshaped-kernel SN broken by an attack inside their radius; what a sound "
     "certificate gives away"),
]


@dataclass(frozen=True)
class Claim:
    notebook: str
    id: str
    statement: str
    article: str
    kind: str
    verdict: str
    measured: str
    note: str


def _number(x) -> str:
    if isinstance(x, bool):
        return str(x).lower()
    if isinstance(x, int):
        return str(x)
    if isinstance(x, float):
        if math.isnan(x) or math.isinf(x):
            return str(x)
        return f"{x:.3g}"
    return str(x)


def _leaves(value, prefix="", depth=0):
    """(depth, dotted key, value) for every non-dict leaf of a measured dict; lists are leaves."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(v, f"{prefix}.{k}" if prefix else str(k), depth + 1)
    else:
        yield depth, prefix, value


def _short(value) -> str:
    """A leaf as short text: numbers to 3 digits, long numeric lists as their range."""
    if isinstance(value, list) and len(value) > 4:
        numbers = [v for v in value if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if len(numbers) == len(value):
            return f"{len(value)} values in [{_number(min(numbers))}, {_number(max(numbers))}]"
        return f"{len(value)} entries"
    if isinstance(value, list):
        return "[" + ", ".join(_number(v) if not isinstance(v, (dict, list)) else "…" for v in value) + "]"
    return _number(value)


def measured_summary(measured: dict, limit: int = 4) -> str:
    """The first ``limit`` measured values, flattened to ``key = value``, numbers to 3 digits.

    Top-level values come before nested ones: a claim's headline number (a ratio, a
    count of violations) is usually a top-level key, the details nested under others.
    """
    items = sorted(_leaves(measured), key=lambda item: item[0])  # stable: keeps order within a depth
    text = "; ".join(f"{k} = {_short(v)}" for _, k, v in items[:limit])
    if len(items) > limit:
        text += f"; … ({len(items) - limit} more in the JSON)"
    return text


def key_measurement(claim: dict) -> str:
    """The claim's key estimate with its CI and n; the first measured values when it has none."""
    return tables.evidence_text(claim.get("evidence")) or measured_summary(claim["measured"])


def load_claims(results_dir: Path = RESULTS) -> list[Claim]:
    claims = []
    for path in sorted(results_dir.glob("[0-9][0-9]_*.json")):
        data = json.loads(path.read_text())
        for c in data["claims"]:
            claims.append(Claim(data["notebook"], c["id"], c["statement"], c["article"], c["kind"], c["verdict"],
                                key_measurement(c), c.get("note", "")))
    return claims


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _counts(claims: list[Claim]) -> str:
    n = {v: sum(c.verdict == v for c in claims) for v in ("holds", "does not hold", "inconclusive")}
    return f"{n['holds']} hold, {n['does not hold']} do not, {n['inconclusive']} are inconclusive"


def tally(claims: list[Claim]) -> str:
    """The headline: the article's own claims apart from our additions."""
    own = [c for c in claims if c.kind in ARTICLE_KINDS]
    ours = [c for c in claims if c.kind not in ARTICLE_KINDS]
    return (f"Of the article's {len(own)} claims, {_counts(own)} at this scale; "
            f"of our {len(ours)} further checks, {_counts(ours)}")


def verdict_markdown(verdict: str) -> str:
    return {"holds": "holds", "does not hold": "**does not hold**", "inconclusive": "*inconclusive*"}[verdict]


def claims_markdown(claims: list[Claim], link_prefix: str) -> str:
    """One row per claim: where it is reproduced, the article's place, verdict, measured values."""
    lines = ["| notebook | claim | article | kind | verdict | estimate [CI], n |", "|---|---|---|---|---|---|"]
    for c in claims:
        statement = c.statement + (f" *({c.note})*" if c.note else "")
        lines.append(f"| [{c.notebook[:2]}]({link_prefix}{c.notebook}.ipynb) | `{c.id}`: {_cell(statement)} "
                     f"| {_cell(c.article)} | {c.kind} | {verdict_markdown(c.verdict)} | {_cell(c.measured)} |")
    return "\n".join(lines)




def timings_markdown(results_dir: Path = RESULTS, link_prefix: str = "notebooks/") -> str:
    """Every wall-clock measurement the notebooks record, with the claim it belongs to."""
    lines = ["| notebook | claim | measurement | value |", "|---|---|---|---|"]
    for path in sorted(results_dir.glob("[0-9][0-9]_*.json")):
        data = json.loads(path.read_text())
        for c in data["claims"]:
            for _, key, value in _leaves(c["measured"]):
                if not any(TIMING_KEY.search(part) for part in key.split(".")):
                    continue
                rounds = ""
                if isinstance(value, list) and value and all(isinstance(v, (int, float)) for v in value):
                    rounds = f", median of {len(value)} rounds"
                    value = float(statistics.median(value))
                if "second" in key and isinstance(value, float):
                    shown = (f"{value * 1e3:.1f} ms" if value < 1 else f"{value:.1f} s") + rounds
                else:
                    shown = _number(value) + rounds
                lines.append(f"| [{data['notebook'][:2]}]({link_prefix}{data['notebook']}.ipynb) "
                             f"| `{c['id']}` | {key} | {shown} |")
    return "\n".join(lines)


def notebooks_markdown(link_prefix: str = "notebooks/") -> str:
    lines = ["| notebook | article | what it shows |", "|---|---|---|"]
    lines += [f"| [{stem}]({link_prefix}{stem}.ipynb) | {where} | {what} |" for stem, where, what in CATALOG]
    return "\n".join(lines)


def summary_markdown(results_dir: Path, profile: str) -> str:
    """results/SUMMARY.md: the full claims table."""
    claims = load_claims(results_dir)
    return "\n".join([
        "# Claims and verdicts",
        "",
        "Generated by `make reproduce` from `results/*.json`; do not edit by hand.",
        "Each verdict is computed in its notebook from the measured values. A claim that compares",
        "methods, settings or seeds is decided on the confidence interval of its effect: it holds when",
        "the interval lies on the predicted side of no effect, does not hold when it lies on the other",
        "side, and is inconclusive otherwise. With a margin stated beforehand (the smallest effect",
        "that matters) the dividing line is the margin: below it, an effect is too small to matter.",
        "Kinds: **article**",
        "the article states it; **erratum** the article is wrong here; **gap** the article leaves a",
        "condition out; **beyond** our own check.",
        "",
        claims_markdown(claims, "../notebooks/"),
        "",
        f"{tally(claims)} (profile `{profile}`).",
        "",
    ])


def claims_html(claims: list[Claim], link_suffix: str = ".html") -> str:
    """The claims table for the site."""
    rows = []
    css = {"holds": "holds", "does not hold": "fails", "inconclusive": "inconclusive"}
    for c in claims:
        flag = f' <span class="flag">{html.escape(c.kind)}</span>'
        note = f'<br><span class="note">{html.escape(c.note)}</span>' if c.note else ""
        rows.append(
            f'<tr class="{css[c.verdict]}"><td><a href="{c.notebook}{link_suffix}">'
            f"{c.notebook[:2]}</a></td><td><code>{html.escape(c.id)}</code><br>{html.escape(c.statement)}{note}"
            f"</td><td>{html.escape(c.article)}{flag}</td><td class=\"verdict\">{c.verdict}</td>"
            f'<td class="measured">{html.escape(c.measured)}</td></tr>')
    return ('<table class="claims"><thead><tr><th>notebook</th><th>claim</th><th>article</th>'
            "<th>verdict</th><th>estimate [CI], n</th></tr></thead><tbody>\n" + "\n".join(rows)
            + "\n</tbody></table>")


def replace_block(text: str, name: str, body: str) -> str:
    """Replace the text between ``<!-- name -->`` and ``<!-- /name -->``."""
    pattern = re.compile(rf"(<!-- {re.escape(name)} -->\n).*?(<!-- /{re.escape(name)} -->)", re.S)
    if not pattern.search(text):
        raise ValueError(f"README has no <!-- {name} --> ... <!-- /{name} --> block")
    return pattern.sub(lambda m: m.group(1) + body.rstrip("\n") + "\n" + m.group(2), text, count=1)


def readme_text(readme: str, results_dir: Path = RESULTS) -> str:
    claims = load_claims(results_dir)
    readme = replace_block(readme, "report:notebooks", notebooks_markdown())
    table = claims_markdown(claims, "notebooks/") + f"\n\n{tally(claims)} (profile `quick`)."
    readme = replace_block(readme, "report:claims", table)
    return replace_block(readme, "report:timings", timings_markdown(results_dir))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the README or SUMMARY.md is stale")
    args = parser.parse_args(argv)
    want = {README: readme_text(README.read_text()), RESULTS / "SUMMARY.md": summary_markdown(RESULTS, "quick")}
    stale = [p for p, text in want.items() if not p.exists() or p.read_text() != text]
    if args.check:
        for p in stale:
            print(f"stale: {p.relative_to(ROOT)} (run `python tools/report.py`)", file=sys.stderr)
        return 1 if stale else 0
    for p in stale:
        p.write_text(want[p])
        print(f"updated {p.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
