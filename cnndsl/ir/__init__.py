"""The Graph IR: the seam between the front end, passes and backends."""

from cnndsl.ir.graph import Graph, Node, TensorType

__all__ = ["Graph", "Node", "TensorType"]
