"""Perplexity of SmolLM2-135M per quantization method x format over 2,048 evaluation tokens
(hwsim.accuracy.llm; the grid is ``hwsim.accuracy.llm.table``).

    python benchmarks/llm_methods_table.py            # run the missing cells, then render
    python benchmarks/llm_methods_table.py --render   # only render the docs table from the CSV
    python benchmarks/llm_methods_table.py --check [--methods none]  # rerun, compare

``--check`` reruns every cell (or those of ``--methods``) into a scratch CSV and compares
each perplexity, as stored (4 decimals), with the committed CSV: exit 1 naming the cells
that differ, 0 when all agree; the committed CSV and the docs stay as they are.

Each finished cell is appended to docs/data/llm_methods.csv at once (an interrupted run
resumes where it stopped; runs in parallel skip what the others finished); the markdown
table between the markers in docs/accuracy.md is generated from that CSV, never typed.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path

from hwsim.accuracy.llm import table
from hwsim.accuracy.llm.perplexity import evaluate

ROOT = Path(__file__).resolve().parents[1]
CSV = ROOT / "docs" / "data" / "llm_methods.csv"
DOC = ROOT / "docs" / "accuracy.md"


def render_docs() -> None:
    results = table.read_csv(CSV.read_text()) if CSV.exists() else {}
    DOC.write_text(table.replace_block(DOC.read_text(), table.render(results)))


def _append(rec: dict, path: Path = CSV) -> None:
    new = not path.exists()
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=table.COLUMNS, lineterminator="\n")
    if new:
        w.writeheader()
    w.writerow(rec)
    with path.open("a") as f:
        f.write(buf.getvalue())


def run(tokens: int, methods, reverse: bool = False, path: Path = CSV) -> None:
    todo = table.cells()
    for row, m in reversed(todo) if reverse else todo:
        name = table.method_name(m)
        done = table.read_csv(path.read_text()) if path.exists() else {}  # another run's too
        if (row.label, name) in done or (methods and name not in methods):
            continue
        r = evaluate(tokens=tokens, weight_fmt=row.weight_fmt, act_fmt=row.act_fmt,
                     kv_fmt=row.kv_fmt, k_axis=row.k_axis, method=m)  # fmt: skip
        _append({
            "row": row.label, "weight_fmt": row.weight_fmt or "", "act_fmt": row.act_fmt or "",
            "kv_fmt": row.kv_fmt or "", "method": name, "perplexity": f"{r.perplexity:.4f}",
            "tokens": r.tokens, "seconds": f"{r.seconds:.1f}",
            "method_seconds": f"{r.method_seconds:.1f}", "python": r.python,
            "text_sha256": r.text_sha256,
        }, path)  # fmt: skip
        print(f"{row.label:28s} {name:12s} {r.perplexity:10.3f}  {r.seconds:5.1f} s "
              f"+ {r.method_seconds:5.1f} s", flush=True)  # fmt: skip


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--render", action="store_true", help="only render the docs table")
    ap.add_argument("--tokens", type=int, default=2048)
    ap.add_argument("--methods", nargs="*", help="only these methods ('none' for None)")
    ap.add_argument("--reverse", action="store_true", help="run the cells in reverse order")
    ap.add_argument("--check", action="store_true",
                    help="rerun into a scratch CSV and compare with the committed one")  # fmt: skip
    a = ap.parse_args(argv)
    if a.check:
        return check(a.tokens, a.methods)
    if not a.render:
        run(a.tokens, a.methods, a.reverse)
    render_docs()
    return 0


def check(tokens: int, methods) -> int:
    """Rerun the cells into a scratch CSV; print and count those whose stored perplexity
    differs from the committed CSV's (or that it lacks)."""
    import tempfile

    committed = table.read_csv(CSV.read_text()) if CSV.exists() else {}
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp) / "rerun.csv"
        run(tokens, methods, path=scratch)
        now = table.read_csv(scratch.read_text()) if scratch.exists() else {}
    bad = [(key, committed.get(key), p) for key, p in now.items() if committed.get(key) != p]
    for (label, method), old, new in bad:
        print(f"DIFFERS {label} / {method}: committed {old}, rerun {new}")
    print(f"{len(now) - len(bad)} of {len(now)} rerun cells equal the committed CSV")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
