"""Small ONNX models built by hand with onnx.helper, for the importer's tests."""

from __future__ import annotations

import numpy as np


def make_model(nodes, inputs, outputs, initializers=(), opset=17, name="handmade"):
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in outputs],
        [numpy_helper.from_array(np.asarray(v), k) for k, v in initializers])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="handmade")
    model.ir_version = 8
    return model


def save(model, path):
    import onnx

    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(path))
    return path
