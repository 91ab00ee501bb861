"""Perplexity of SmolLM2-135M per quantization method x format over 2,048 evaluation tokens
(hwsim.accuracy.llm; the grid is ``hwsim.accuracy.llm.table``).

    python benchmarks/llm_methods_table.py            # run the missing cells, then render
    python benchmarks/llm_methods_table.py --render   # only render the docs table from the CSV

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


def _append(rec: dict) -> None:
    new = not CSV.exists()
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=table.COLUMNS, lineterminator="\n")
    if new:
        w.writeheader()
    w.writerow(rec)
    with CSV.open("a") as f:
        f.write(buf.getvalue())


def run(tokens: int, methods, reverse: bool = False) -> None:
    todo = table.cells()
    for row, m in reversed(todo) if reverse else todo:
        name = table.method_name(m)
        done = table.read_csv(CSV.read_text()) if CSV.exists() else {}  # another run's too
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
        })  # fmt: skip
        print(f"{row.label:28s} {name:12s} {r.perplexity:10.3f}  {r.seconds:5.1f} s "
              f"+ {r.method_seconds:5.1f} s", flush=True)  # fmt: skip


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--render", action="store_true", help="only render the docs table")
    ap.add_argument("--tokens", type=int, default=2048)
    ap.add_argument("--methods", nargs="*", help="only these methods ('none' for None)")
    ap.add_argument("--reverse", action="store_true", help="run the cells in reverse order")
    a = ap.parse_args(argv)
    if not a.render:
        run(a.tokens, a.methods, a.reverse)
    render_docs()
    return 0


if __name__ == "__main__":
    sys.exit(main())
