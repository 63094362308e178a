"""Renderings of a `Report`: plain aligned text, markdown, csv and json.

Every rendering states the cnndsl version, the input shape(s), the counting convention
and the pass stage. Unsupported figures print as `unsupported` (a row) or with a `+?`
suffix (a sum that misses some nodes), never as 0.
"""

from __future__ import annotations

import csv
import io
import json

from cnndsl.report.model import Report, Row

FORMATS = ("table", "markdown", "csv", "json")
COLUMNS = ("name", "op", "output shape", "params", "MACs", "FLOPs", "memory", "RF")


def _shape(shape) -> str:
    return "?" if shape is None else "[" + ", ".join(str(d) for d in shape) + "]"


def _int(v, partial: bool = False) -> str:
    if v is None:
        return "unsupported"
    return f"{v:,}" + ("+?" if partial else "")


def _bytes(v, partial: bool = False) -> str:
    if v is None:
        return "unsupported"
    units = ("B", "KiB", "MiB", "GiB")
    x, i = float(v), 0
    while x >= 1024 and i < len(units) - 1:
        x /= 1024
        i += 1
    text = f"{int(x)} {units[i]}" if i == 0 else f"{x:.1f} {units[i]}"
    return text + ("+?" if partial else "")


def _rf(rf) -> str:
    if rf is None:
        return "-"
    text = "x".join(str(v) for v in rf["size"])  # one size per spatial axis (l; h, w; d, h, w)
    return text if all(rf.get("aligned", [True])) else text + "!"


def _partial(row: Row, key: str) -> bool:
    return bool(row.unsupported) and row.nodes > 1 and any(key in u for u in row.unsupported)


def _cells(row: Row) -> list[str]:
    return [row.name, row.op if row.nodes == 1 else f"{row.op} ({row.nodes})", _shape(row.shape),
            f"(= {row.shares})" if row.shares else _int(row.params, _partial(row, "params")),
            _int(row.macs, _partial(row, "macs")),
            _int(row.flops, _partial(row, "flops")), _bytes(row.memory, _partial(row, "memory")), _rf(row.rf)]


def header_lines(rep: Report) -> list[str]:
    inputs = ", ".join(f"{n} {d}{_shape(s)}" for n, s, d in rep.inputs) or "none"
    passes = ", ".join(rep.passes) or "none"
    lines = [
        f"cnndsl {rep.version} report: {rep.network}",
        f"input: {inputs}",
        f"convention: {rep.convention.describe()}",
        f"stage: {rep.stage} (passes: {passes})",
        "figures are per batch item; memory = float32 activation bytes",
    ]
    if rep.depth:
        lines.append(f"depth: {rep.depth} (layers collapsed to blocks by name prefix)")
    return lines


def _total_lines(rep: Report) -> list[str]:
    t = rep.totals
    partial = not t["complete"]
    peak = "unknown" if t["peak_memory"] is None else f"{_bytes(t['peak_memory'])} ({t['peak_memory']:,} B) at " \
        f"{t['peak_memory_at']}; schedule: {t['schedule']}"
    lines = [
        f"total params: {_int(t['params'], partial)} trainable, {_int(t['buffers'], partial)} buffers",
        f"total MACs:   {_int(t['macs'], partial)}",
        f"total FLOPs:  {_int(t['flops'], partial)}",
        f"activations:  {_bytes(t['memory'])} summed; peak live {peak}",
    ]
    if t.get("shared"):
        lines.append("shared:       " + ", ".join(
            f"{s['instance']} applied {s['applications']}x ({s['params']:,} params, counted once)"
            for s in t["shared"]))
    for name, size in t["output_rf"].items():
        if size:
            lines.append(f"output {name} receptive field: " + "x".join(str(v) for v in size))
    if partial:
        lines.append(f"unsupported ({len(t['unsupported'])}; not counted): " + "; ".join(t["unsupported"]))
    return lines


def _breakdown_cells(row: Row, total_macs: int) -> list[str]:
    share = f"{100 * (row.macs or 0) / total_macs:.1f}%" if total_macs else "-"
    return [row.name, str(row.nodes), _int(row.params), _int(row.macs), share, _int(row.flops)]


BREAKDOWN = ("name", "nodes", "params", "MACs", "MAC share", "FLOPs")


def _aligned(headers, rows: list[list[str]], numeric_from: int) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]

    def fmt(cells):
        return "  ".join(c.rjust(w) if i >= numeric_from else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return [fmt(headers), "  ".join("-" * w for w in widths)] + [fmt(r) for r in rows]


def render_table(rep: Report) -> str:
    out = header_lines(rep) + [""]
    out += _aligned(COLUMNS, [_cells(r) for r in rep.rows], numeric_from=3)
    out += [""] + _total_lines(rep)
    out += ["", "by op type:"] + _aligned(BREAKDOWN, [_breakdown_cells(r, rep.totals["macs"]) for r in rep.by_op], 1)
    out += ["", "by block:"] + _aligned(BREAKDOWN, [_breakdown_cells(r, rep.totals["macs"]) for r in rep.by_block], 1)
    if rep.warnings:
        out += ["", "warnings:"] + [f"  {w}" for w in rep.warnings]
    return "\n".join(out) + "\n"


def _md_table(headers, rows: list[list[str]], numeric_from: int) -> list[str]:
    def esc(c: str) -> str:
        return c.replace("|", "\\|")

    align = ["---:" if i >= numeric_from else "---" for i in range(len(headers))]
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(esc(c) for c in r) + " |" for r in rows]
    return lines


def render_markdown(rep: Report) -> str:
    head = header_lines(rep)
    out = [f"# {head[0]}", ""] + [f"- {line}" for line in head[1:]] + [""]
    out += _md_table(COLUMNS, [[f"`{c[0]}`"] + c[1:] for c in (_cells(r) for r in rep.rows)], 3)
    out += ["", "## Totals", ""] + [f"- {line}" for line in _total_lines(rep)]
    out += ["", "## By op type", ""]
    out += _md_table(BREAKDOWN, [_breakdown_cells(r, rep.totals["macs"]) for r in rep.by_op], 1)
    out += ["", "## By block", ""]
    out += _md_table(BREAKDOWN, [_breakdown_cells(r, rep.totals["macs"]) for r in rep.by_block], 1)
    if rep.warnings:
        out += ["", "## Warnings", ""] + [f"- {w}" for w in rep.warnings]
    return "\n".join(out) + "\n"


def render_csv(rep: Report) -> str:
    """One row per layer (or block); the header facts as leading `#` comment lines."""
    buf = io.StringIO()
    for line in header_lines(rep):
        buf.write(f"# {line}\n")
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["name", "op", "nodes", "shape", "params", "buffers", "macs", "flops", "memory_bytes",
                "rf_h", "rf_w", "rf_stride_h", "rf_stride_w", "rf_padding_h", "rf_padding_w", "unsupported"])

    def val(v):
        return "unsupported" if v is None else v

    for r in rep.rows:
        rf = r.rf or {}
        size, stride, pad = rf.get("size", ["", ""]), rf.get("stride", ["", ""]), rf.get("padding", ["", ""])
        w.writerow([r.name, r.op, r.nodes, "x".join(str(d) for d in (r.shape or ())),
                    val(r.params), val(r.buffers), val(r.macs), val(r.flops), val(r.memory),
                    size[0], size[1], stride[0], stride[1], pad[0], pad[1], "; ".join(r.unsupported)])
    t = rep.totals
    w.writerow(["TOTAL", "", t["layers"], "", t["params"], t["buffers"], t["macs"], t["flops"], t["memory"],
                "", "", "", "", "", "", "; ".join(t["unsupported"])])
    return buf.getvalue()


def render_json(rep: Report) -> str:
    return json.dumps(rep.to_json(), indent=2) + "\n"


RENDERERS = {"table": render_table, "markdown": render_markdown, "csv": render_csv, "json": render_json}


def render(rep: Report, fmt: str = "table") -> str:
    if fmt not in RENDERERS:
        raise ValueError(f"unknown report format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return RENDERERS[fmt](rep)
