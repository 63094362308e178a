"""Shape inference: re-derive every node's output shape from the registry.

The builder infers shapes at insertion; this pass re-runs the same rules over a graph
that a transformation (or a JSON load) may have changed, in topological order, and
reports a failure at the `.cnn` position of the layer whose rule failed.
"""

from __future__ import annotations

from cnndsl.diagnostics import ShapeMismatch, UnknownOp
from cnndsl.ir.graph import Graph
from cnndsl.ops.registry import ShapeError
from cnndsl.passes.common import in_shapes, opdef_of
from cnndsl.passes.manager import Pass, PassContext, PassResult


def infer_shapes(graph: Graph, _ctx: PassContext) -> PassResult:
    from cnndsl.ir.builder import infer_node

    modified = False
    for node in graph.topo():
        opdef = opdef_of(node)
        if opdef is None:
            raise UnknownOp(f"no shape rule: op '{node.op}' of node '{node.name}' is not in the registry", node.span)
        try:
            attrs, shape = infer_node(opdef, dict(node.attrs), in_shapes(graph, node))
        except ShapeError as err:
            raise ShapeMismatch(f"{node.op} '{node.name}': {err}", node.span) from None
        if isinstance(shape, list):
            shapes = [tuple(s) for s in shape]
            if node.meta.get("shapes") != shapes:
                modified = True
            node.meta["shapes"] = shapes
            shape = shapes[0]
        else:
            shape = tuple(shape)
        if node.meta.get("shape") != shape:
            modified = True
        node.meta["shape"] = shape
        node.meta.setdefault("dtype", "float32")
        node.attrs = attrs
    return PassResult(graph, modified)


SHAPES = Pass("shapes", infer_shapes, "analysis", "re-infer every output shape from the op registry", in_place=True)
