"""`cnndsl list`: the bundled library's networks with their headline figures."""

from __future__ import annotations

import argparse
import json

from cnndsl.diagnostics import CnnError

HELP = "list the library's networks with parameters and MACs"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", choices=("table", "json"), default="table",
                   help="table (default) or json (schema cnndsl.list/1)")
    p.add_argument("--no-figures", action="store_true", help="names only (skips elaborating every network)")


def _figures(name: str) -> dict:
    from cnndsl.model import load

    model = load(name)
    totals = model.report()["totals"]
    shape = list(model.graph.input_nodes()[0].attrs["shape"])
    return {"params": totals["params"], "macs": totals["macs"], "input": shape}


def run(args: argparse.Namespace) -> int:
    from cnndsl.elaborate.modules import display_name, library_index
    from cnndsl.progress import track

    rows = []
    entries = sorted(library_index().items())
    for name, entry in entries if args.no_figures else track(entries, total=len(entries), desc="elaborating",
                                                             unit="net"):
        if entry.name == entry.network and any(e.network == name and e.name != name
                                                for e in library_index().values()):
            continue  # a parametric network listed through its named variants
        row = {"name": name, "network": entry.network, "file": display_name(entry.path)}
        if not args.no_figures:
            try:
                row.update(_figures(name))
            except CnnError as err:
                row["error"] = err.message
        rows.append(row)
    if args.format == "json":
        from cnndsl import __version__

        print(json.dumps({"schema": "cnndsl.list/1", "cnndsl_version": __version__, "networks": rows}, indent=2))
        return 0
    header = f"{'name':<24} {'network':<20} {'params':>14} {'MACs':>16}  input"
    print(header)
    print("-" * len(header))
    for r in rows:
        if "error" in r:
            print(f"{r['name']:<24} {r['network']:<20} error: {r['error']}")
        elif "params" in r:
            shape = "x".join(str(d) for d in r["input"][1:])
            print(f"{r['name']:<24} {r['network']:<20} {r['params']:>14,} {r['macs']:>16,}  {shape}")
        else:
            print(f"{r['name']:<24} {r['network']}")
    return 0
