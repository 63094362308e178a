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
COLUMNS = ("name", "op", "input shape", "output shape", "kernel/stride", "params", "params %", "buffers", "MACs",
           "MACs %", "FLOPs", "memory", "RF")


def _shape(shape) -> str:
    return "?" if shape is None else "[" + ", ".join(str(d) for d in shape) + "]"


def _shapes(shapes) -> str:
    return ", ".join(_shape(s) for s in shapes) if shapes else "-"


def _int(v, partial: bool = False) -> str:
    if v is None:
        return "unsupported"
    return f"{v:,}" + ("+?" if partial else "")


def _bytes(v, partial: bool = False) -> str:
    """Decimal units (kB = 10^3 bytes, MB = 10^6), as torchinfo prints them."""
    if v is None:
        return "unsupported"
    units = ("B", "kB", "MB", "GB", "TB")
    x, i = float(v), 0
    while x >= 1000 and i < len(units) - 1:
        x /= 1000
        i += 1
    text = f"{int(x)} {units[i]}" if i == 0 else f"{x:.2f} {units[i]}"
    return text + ("+?" if partial else "")


def _pct(part, whole) -> str:
    return "-" if part is None or not whole else f"{100 * part / whole:.2f}%"


def _window(row: Row) -> str:
    if row.kernel is None:
        return "-"
    k = "x".join(str(v) for v in row.kernel)
    return k if row.stride is None else k + "/" + "x".join(str(v) for v in row.stride)


def _rf(rf) -> str:
    if rf is None:
        return "-"
    text = "x".join(str(v) for v in rf["size"])  # one size per spatial axis (l; h, w; d, h, w)
    return text if all(rf.get("aligned", [True])) else text + "!"


def _partial(row: Row, key: str) -> bool:
    return bool(row.unsupported) and row.nodes > 1 and any(key in u for u in row.unsupported)


def _columns(rep: Report) -> tuple[str, ...]:
    compare = rep.totals.get("compare")
    return COLUMNS + ((f"{compare['tool']} {compare['figure']}",) if compare else ())


def _cells(row: Row, rep: Report) -> list[str]:
    t = rep.totals
    op = row.op if row.nodes == 1 else f"{row.op} ({row.nodes})"
    cells = [row.title, op, _shapes(row.inputs), _shape(row.shape), _window(row),
             f"(= {row.shares})" if row.shares else _int(row.params, _partial(row, "params")),
             _pct(row.params, t["params"]), "-" if row.shares else _int(row.buffers),
             _int(row.macs, _partial(row, "macs")), _pct(row.macs, t["macs"]),
             _int(row.flops, _partial(row, "flops")), _bytes(row.memory, _partial(row, "memory")), _rf(row.rf)]
    if t.get("compare"):
        cells.append(_int(row.tool))
    return cells


NUMERIC_FROM = 5  # columns from "params" on are right-aligned


def header_lines(rep: Report) -> list[str]:
    inputs = ", ".join(f"{n} {d}{_shape(s)}" for n, s, d in rep.inputs) or "none"
    passes = ", ".join(rep.passes) or "none"
    batch = rep.totals.get("batch")
    lines = [
        f"cnndsl {rep.version} report: {rep.network}",
        f"input: {inputs}",
        f"convention: {rep.convention.describe()}",
        f"stage: {rep.stage} (passes: {passes})",
        "figures per row are per batch item; memory = float32 activation bytes (kB/MB = 10^3/10^6 bytes)"
        + (f"; totals also for the batch of {batch}" if batch else ""),
    ]
    if rep.depth:
        lines.append(f"depth: {rep.depth} (layers collapsed to block instances, named by block type)")
    return lines


def _total_lines(rep: Report) -> list[str]:
    t = rep.totals
    partial = not t["complete"]
    batch = t.get("batch")
    fb = t["for_batch"]

    def per(v_item, v_batch, fmt=_int) -> str:
        text = f"{fmt(v_item, partial)} per item"
        return text + (f", {fmt(v_batch, partial)} for the batch of {batch}" if batch else "")

    peak = "unknown" if t["peak_memory"] is None else f"{_bytes(t['peak_memory'])} per item " \
        f"({t['peak_memory']:,} B) at {t['peak_memory_at']}; schedule: {t['schedule']}"
    est = t["estimates"]
    scope = f"batch {est['batch']}" + ("" if batch else " (the input's batch is symbolic; fix it with --batch)")
    lines = [
        (f"params:       {_int(t['params'], partial)} trainable + {_int(t['buffers'], partial)} buffers; "
        f"parameter size {_bytes(t['params_bytes'])} (float32)"),
        f"MACs:         {per(t['macs'], fb['macs'])}",
        f"FLOPs:        {per(t['flops'], fb['flops'])}",
        f"activations:  {per(t['memory'], fb['memory'], _bytes)} (every tensor, summed); peak live {peak}",
        (f"memory ({scope}): inference {_bytes(est['inference_peak_bytes'])} (weights + peak live activations); "
        f"training {_bytes(est['training_bytes']['sgd_momentum'])} with SGD-momentum, "
        f"{_bytes(est['training_bytes']['adam'])} with Adam "
        f"(weights {_bytes(est['weights_bytes'])} + gradients {_bytes(est['gradients_bytes'])} + optimizer state "
        f"{_bytes(est['optimizer_bytes']['sgd_momentum'])} / {_bytes(est['optimizer_bytes']['adam'])} + "
        f"activations kept for backward {_bytes(est['activations_bytes'])})"),
        f"assumptions:  {est['assumptions']}",
    ]
    if t.get("compare"):
        c = t["compare"]
        lines.append(f"{c['tool']}:" + " " * max(1, 13 - len(c["tool"]) - 1)
                     + f"{c['figure']} {per(c['per_item'], c['for_batch'])} (as `{c['call']}` counts; "
                     "docs/reports.md)")
    if t.get("shared"):
        lines.append("shared:       " + ", ".join(
            f"{s['instance']} applied {s['applications']}x ({s['params']:,} params, counted once)"
            for s in t["shared"]))
    for name, size in t["output_rf"].items():
        if size:
            lines.append(f"receptive field of output '{name}': " + "x".join(str(v) for v in size))
    if partial:
        lines.append(f"unsupported ({len(t['unsupported'])}; not counted): " + "; ".join(t["unsupported"]))
    return lines


def _breakdown_cells(row: Row, rep: Report) -> list[str]:
    t = rep.totals
    return [row.title, str(row.nodes), _int(row.params), _pct(row.params, t["params"]), _int(row.macs),
            _pct(row.macs, t["macs"]), _int(row.flops)]


BREAKDOWN = ("name", "nodes", "params", "params %", "MACs", "MACs %", "FLOPs")


def _aligned(headers, rows: list[list[str]], numeric_from: int) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]

    def fmt(cells):
        return "  ".join(c.rjust(w) if i >= numeric_from else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return [fmt(headers), "  ".join("-" * w for w in widths)] + [fmt(r) for r in rows]


def render_table(rep: Report) -> str:
    out = header_lines(rep) + [""]
    out += _aligned(_columns(rep), [_cells(r, rep) for r in rep.rows], numeric_from=NUMERIC_FROM)
    out += [""] + _total_lines(rep)
    out += ["", "by op type:"] + _aligned(BREAKDOWN, [_breakdown_cells(r, rep) for r in rep.by_op], 1)
    out += ["", "by block:"] + _aligned(BREAKDOWN, [_breakdown_cells(r, rep) for r in rep.by_block], 1)
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
    out += _md_table(_columns(rep), [[f"`{c[0]}`"] + c[1:] for c in (_cells(r, rep) for r in rep.rows)], NUMERIC_FROM)
    out += ["", "## Totals", ""] + [f"- {line}" for line in _total_lines(rep)]
    out += ["", "## By op type", ""]
    out += _md_table(BREAKDOWN, [_breakdown_cells(r, rep) for r in rep.by_op], 1)
    out += ["", "## By block", ""]
    out += _md_table(BREAKDOWN, [_breakdown_cells(r, rep) for r in rep.by_block], 1)
    if rep.warnings:
        out += ["", "## Warnings", ""] + [f"- {w}" for w in rep.warnings]
    return "\n".join(out) + "\n"


def render_csv(rep: Report) -> str:
    """One row per layer (or block); the header facts as leading `#` comment lines."""
    buf = io.StringIO()
    for line in header_lines(rep):
        buf.write(f"# {line}\n")
    w = csv.writer(buf, lineterminator="\n")
    t = rep.totals
    w.writerow(["name", "op", "nodes", "input_shapes", "shape", "kernel", "stride", "params", "params_percent",
                "buffers", "macs", "macs_percent", "flops", "memory_bytes", "rf_h", "rf_w", "rf_stride_h",
                "rf_stride_w", "rf_padding_h", "rf_padding_w", "unsupported"]
               + ([f"{t['compare']['tool']}"] if t.get("compare") else []))

    def val(v):
        return "unsupported" if v is None else v

    def two(values) -> list:
        values = list(values or [])
        return (values + ["", ""])[:2] if len(values) != 1 else values * 2  # 1-D: the one axis in both

    def dims(v) -> str:
        return "" if v is None else "x".join(str(d) for d in v)

    for r in rep.rows:
        rf = r.rf or {}
        size, stride, pad = two(rf.get("size")), two(rf.get("stride")), two(rf.get("padding"))
        w.writerow([r.name, r.op, r.nodes, " ".join(dims(s) for s in r.inputs), dims(r.shape), dims(r.kernel),
                    dims(r.stride), val(r.params), _pct(r.params, t["params"]).rstrip("%"), val(r.buffers),
                    val(r.macs), _pct(r.macs, t["macs"]).rstrip("%"), val(r.flops), val(r.memory),
                    size[0], size[1], stride[0], stride[1], pad[0], pad[1], "; ".join(r.unsupported)]
                   + ([val(r.tool)] if t.get("compare") else []))
    w.writerow(["TOTAL", "", t["layers"], "", "", "", "", t["params"], "100.00", t["buffers"], t["macs"], "100.00",
                t["flops"], t["memory"], "", "", "", "", "", "", "; ".join(t["unsupported"])]
               + ([t["compare"]["per_item"]] if t.get("compare") else []))
    return buf.getvalue()


def render_json(rep: Report) -> str:
    return json.dumps(rep.to_json(), indent=2) + "\n"


RENDERERS = {"table": render_table, "markdown": render_markdown, "csv": render_csv, "json": render_json}


def render(rep: Report, fmt: str = "table") -> str:
    if fmt not in RENDERERS:
        raise ValueError(f"unknown report format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return RENDERERS[fmt](rep)
