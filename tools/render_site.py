"""Render the executed notebooks into a static HTML site (``make render``).

One page per notebook in the article's order (tools/report.py's catalogue), an index
with the claims table, and navigation between pages. Nothing is fetched from the
internet when a page is read: MathJax comes from the ``jupyter-server-mathjax`` package
and is copied into ``_static/``, figures are embedded by nbconvert, and the page
template drops require.js and mermaid, which nbconvert would load from a CDN.

Usage: ``python tools/render_site.py [--profile quick|smoke|full] [--out build/site]``.
The quick profile renders the committed notebooks; others render ``build/<profile>/``.
"""

from __future__ import annotations

import argparse
import html
import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import report  # noqa: E402  (tools/ is not a package)
import reproduce  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = Path(__file__).resolve().parent / "site_template"
PROFILES = ("smoke", "quick", "full")

# MathJax 2.7 from jupyter-server-mathjax, which ships the combined TeX/HTML-CSS config
# and only the STIX web fonts. noErrors/noUndefined are disabled so that a TeX error
# shows as an error (the site tests look for it) instead of as the raw source. The
# hooks record errors and mark the end of typesetting for the browser tests.
MATHJAX_HEAD = """<script type="text/x-mathjax-config">
window.lipnbMath = {done: false, errors: []};
MathJax.Hub.Config({
  tex2jax: {inlineMath: [["$", "$"], ["\\\\(", "\\\\)"]], displayMath: [["$$", "$$"], ["\\\\[", "\\\\]"]],
            processEscapes: true, processEnvironments: true},
  TeX: {noErrors: {disabled: true}, noUndefined: {disabled: true}, equationNumbers: {autoNumber: "AMS"}},
  // Chromium renders MathML natively; HTML-CSS would need the TeX web fonts, which the
  // package does not ship, so it is pointed at the STIX fonts it does ship.
  menuSettings: {renderer: "NativeMML"}, "fast-preview": {disabled: true},
  "HTML-CSS": {availableFonts: [], preferredFont: null, webFont: "STIX-Web", imageFont: null},
  messageStyle: "none", displayAlign: "center"
});
// Chromium's MathML ignores mathvariant, and MathJax would fetch TeX web fonts for it
// that the package does not ship. Map double-struck and calligraphic letters to their
// Unicode code points instead, which any math font (DejaVu Math, STIX Two) carries.
MathJax.Hub.Register.StartupHook("TeX Jax Ready", function () {
  var holes = {"double-struck": {C: 0x2102, H: 0x210D, N: 0x2115, P: 0x2119, Q: 0x211A, R: 0x211D, Z: 0x2124},
               "script": {B: 0x212C, E: 0x2130, F: 0x2131, H: 0x210B, I: 0x2110, L: 0x2112, M: 0x2133, R: 0x211B}};
  var base = {"double-struck": 0x1D538, "script": 0x1D49C};
  var variant = {"double-struck": "double-struck", "-tex-caligraphic": "script", "script": "script"};
  function letter(kind, ch) {
    if (holes[kind][ch]) return String.fromCodePoint(holes[kind][ch]);
    if (ch >= "A" && ch <= "Z") return String.fromCodePoint(base[kind] + ch.charCodeAt(0) - 65);
    return ch;
  }
  function walk(node) {
    if (!node || typeof node !== "object") return;
    var kind = variant[node.mathvariant];
    if (node.isToken && kind) {
      (node.data || []).forEach(function (chars) {
        if (chars && chars.data) chars.data = chars.data.map(function (t) {
          return String(t).split("").map(function (ch) { return letter(kind, ch); }).join("");
        });
      });
      node.mathvariant = "normal";
    }
    (node.data || []).forEach(walk);
  }
  // After every input jax has translated, before the output jax renders.
  MathJax.Hub.Register.MessageHook("Begin Math Output", function () {
    MathJax.Hub.getAllJax().forEach(function (jax) { walk(jax.root); });
  });
});
MathJax.Hub.Register.MessageHook("TeX Jax - parse error", function (m) { window.lipnbMath.errors.push(String(m[1])); });
MathJax.Hub.Register.MessageHook("Math Processing Error", function (m) { window.lipnbMath.errors.push(String(m[2] || m[1])); });
MathJax.Hub.Register.StartupHook("End", function () {
  MathJax.Hub.Queue(function () { window.lipnbMath.done = true; });
});
</script>
<script src="_static/mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full"></script>
<link rel="icon" href="data:,">"""

SITE_CSS = """
body { margin: 0; }
nav.lipnb { display: flex; gap: 1.5em; align-items: baseline; padding: 0.6em 1.2em; background: #f3f4f6;
            border-bottom: 1px solid #d1d5db; font: 14px/1.4 system-ui, sans-serif; }
nav.lipnb a { color: #1d4ed8; text-decoration: none; }
nav.lipnb .spacer { flex: 1; }
.lipnb-page { max-width: 1100px; margin: 0 auto; padding: 1em 1.5em 3em; font: 15px/1.55 system-ui, sans-serif; }
table.claims, table.catalog { border-collapse: collapse; width: 100%; font-size: 13px; }
table.claims td, table.claims th, table.catalog td, table.catalog th { border: 1px solid #d1d5db;
  padding: 0.35em 0.5em; vertical-align: top; text-align: left; }
table.claims tr.fails td.verdict { color: #b91c1c; font-weight: 600; }
table.claims tr.holds td.verdict { color: #15803d; }
table.claims tr.inconclusive td.verdict { color: #a16207; font-style: italic; }
table.claims td.measured { font-family: ui-monospace, monospace; font-size: 12px; }
.flag { background: #fef3c7; border: 1px solid #f59e0b; border-radius: 3px; padding: 0 0.3em; font-size: 11px; }
.note { color: #6b7280; font-style: italic; }
"""


def page_name(stem: str) -> str:
    return f"{stem}.html"


def notebook_dir(profile: str) -> tuple[Path, Path]:
    """Where a profile's executed notebooks and results live (as the runner writes them)."""
    ipynb, results = reproduce.output_paths(reproduce.NOTEBOOKS / "00_any.py", profile)
    return ipynb.parent, results.parent


def mathjax_static() -> Path:
    try:
        import jupyter_server_mathjax
    except ImportError as exc:  # the Makefile installs it; say what to do otherwise
        raise SystemExit("render_site: jupyter-server-mathjax is not installed (it ships MathJax); "
                         "run `make render`, which sets up .venv from requirements.txt") from exc
    return Path(jupyter_server_mathjax.__file__).parent / "static"


def nav(prev: str | None, nxt: str | None, here: str) -> str:
    def link(stem, label):
        return f'<a href="{page_name(stem)}">{label}</a>' if stem else '<span></span>'
    return (f'<nav class="lipnb"><a href="index.html">lipnb · index</a><span>{html.escape(here)}</span>'
            f'<span class="spacer"></span>{link(prev, f"← {prev[:2]}" if prev else "")}'
            f'{link(nxt, f"{nxt[:2]} →" if nxt else "")}</nav>')


def notebook_title(nb) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    raise ValueError("notebook has no '# title' line in a markdown cell")


def render_notebook(path: Path, out: Path, prev: str | None, nxt: str | None) -> str:
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(path, as_version=4)
    title = notebook_title(nb)
    nb.metadata["title"] = title
    exporter = HTMLExporter(template_name="lipnb", extra_template_basedirs=[str(TEMPLATES)])
    resources = {"lipnb": {"mathjax_head": MATHJAX_HEAD, "nav": nav(prev, nxt, path.stem)}}
    body, _ = exporter.from_notebook_node(nb, resources=resources)
    (out / page_name(path.stem)).write_text(body)
    return title


def index_page(entries: list[dict], claims: list, profile: str) -> str:
    rows = []
    for e in entries:
        rows.append(f'<tr><td><a href="{page_name(e["stem"])}">{html.escape(e["title"])}</a></td>'
                    f'<td>{html.escape(e["article"])}</td><td>{html.escape(e["what"])}</td>'
                    f'<td>{e["verdicts"]}</td></tr>')
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>lipnb: Lipschitz constraints in deep learning, derived and measured</title>
<link rel="stylesheet" href="_static/site.css">
{MATHJAX_HEAD}
</head><body>
{nav(None, entries[0]["stem"] if entries else None, "index")}
<div class="lipnb-page">
<h1>lipnb: Lipschitz constraints in deep learning, derived and measured</h1>
<p>A reproduction of Su Jianlin's 2018 article on Lipschitz constraints in deep learning. Each
notebook derives one of its results, checks it numerically, plots it, and records verdicts that
the tests read. Read them in order: the article's argument builds from one to the next.
Profile <code>{html.escape(profile)}</code>.</p>
<h2>Notebooks</h2>
<table class="catalog"><thead><tr><th>notebook</th><th>article</th><th>what it shows</th>
<th>claims: hold / do not / inconclusive</th></tr></thead><tbody>
{chr(10).join(rows)}
</tbody></table>
<h2 id="claims">Claims and verdicts</h2>
<p>{html.escape(report.tally(claims))}. Every verdict is computed in its notebook from the
measured values. A claim that compares methods, settings or seeds is decided on the confidence
interval of its effect, shown with the number of paired units; it is inconclusive when the
interval does not decide. Kinds: <span class="flag">article</span> the article states it;
<span class="flag">erratum</span> the article is wrong here; <span class="flag">gap</span> it leaves a
condition out; <span class="flag">beyond</span> our own check.</p>
{report.claims_html(claims)}
</div></body></html>
"""


def build(profile: str, out: Path) -> list[Path]:
    """Render the site for ``profile`` into ``out`` (replaced); returns the pages written."""
    if profile not in PROFILES:
        raise SystemExit(f"render_site: unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")
    nb_dir, results_dir = notebook_dir(profile)
    stems = [stem for stem, _, _ in report.CATALOG]
    missing = [s for s in stems if not (nb_dir / f"{s}.ipynb").exists()]
    if missing:
        raise SystemExit(f"render_site: no executed notebook for {', '.join(missing)} in {nb_dir}; "
                         f"run `make reproduce PROFILE={profile}` first")
    staging = out.with_name(out.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "_static").mkdir(parents=True)
    shutil.copytree(mathjax_static(), staging / "_static" / "mathjax")
    (staging / "_static" / "site.css").write_text(SITE_CSS)

    claims = report.load_claims(results_dir)
    entries = []
    for i, (stem, article, what) in enumerate(report.CATALOG):
        prev = stems[i - 1] if i > 0 else None
        nxt = stems[i + 1] if i + 1 < len(stems) else None
        title = render_notebook(nb_dir / f"{stem}.ipynb", staging, prev, nxt)
        mine = [c for c in claims if c.notebook == stem]
        entries.append(dict(stem=stem, title=title, article=article, what=what,
                            verdicts=" / ".join(str(sum(c.verdict == v for c in mine))
                                                for v in ("holds", "does not hold", "inconclusive"))))
    (staging / "index.html").write_text(index_page(entries, claims, profile))
    (staging / "manifest.json").write_text(json.dumps(
        {"profile": profile, "pages": ["index.html"] + [page_name(s) for s in stems]}, indent=2) + "\n")
    # Swap in the finished site only now, so a failed render leaves the previous one.
    shutil.rmtree(out, ignore_errors=True)
    staging.rename(out)
    return [out / "index.html"] + [out / page_name(s) for s in stems]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--out", type=Path, default=None, help="default: build/site (quick) or build/<profile>/site")
    args = parser.parse_args(argv)
    out = args.out or (ROOT / "build" / "site" if args.profile == "quick" else ROOT / "build" / args.profile / "site")
    pages = build(args.profile, out.resolve())
    print(f"rendered {len(pages)} pages into {out}; open {out / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
