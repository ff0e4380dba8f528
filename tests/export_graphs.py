"""Small hand-built ONNX graphs and an unoptimized ORT runner for the graph-pass tests."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper


class GraphBuilder:
    """Append nodes and constants, then wrap them into a checked ModelProto."""

    def __init__(self, opset: int = 17, seed: int = 0) -> None:
        self.opset = opset
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []

    def const(self, value, name: str | None = None) -> str:
        name = name or f"c{len(self.initializers)}"
        self.initializers.append(numpy_helper.from_array(np.asarray(value, np.float32), name))
        return name

    def ints(self, value, name: str | None = None) -> str:
        name = name or f"i{len(self.initializers)}"
        self.initializers.append(numpy_helper.from_array(np.asarray(value, np.int64), name))
        return name

    def constant_node(self, value) -> str:
        """A scalar from a Constant node rather than an initializer (what exporters often emit)."""
        output = f"k{len(self.nodes)}"
        tensor = numpy_helper.from_array(np.asarray(value, np.float32), output + "_value")
        self.nodes.append(helper.make_node("Constant", [], [output], name=output, value=tensor))
        return output

    def weight(self, *shape: int, scale: float = 0.5) -> str:
        return self.const(self.rng.normal(0, scale, shape).astype(np.float32))

    def op(self, op_type: str, inputs: list[str], output: str | None = None, **attrs) -> str:
        name = f"{op_type}_{len(self.nodes)}"
        output = output or f"{name}_out"
        self.nodes.append(helper.make_node(op_type, inputs, [output], name=name, **attrs))
        return output

    def model(self, inputs: dict[str, list], outputs: list[str]) -> onnx.ModelProto:
        graph = helper.make_graph(
            self.nodes,
            "test",
            [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs.items()],
            [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in outputs],
            self.initializers,
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", self.opset)])
        model.ir_version = 8
        model = onnx.shape_inference.infer_shapes(model)  # fills the output shapes left open
        onnx.checker.check_model(model, full_check=True)
        return model


def run_unoptimized(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    """ORT with graph optimizations off, so the graph runs exactly as written."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    return session.run(None, feeds)


def assert_same_outputs(
    before: onnx.ModelProto, after: onnx.ModelProto, feeds: dict[str, np.ndarray]
) -> None:
    onnx.checker.check_model(after, full_check=True)
    for expected, actual in zip(
        run_unoptimized(before, feeds), run_unoptimized(after, feeds), strict=True
    ):
        # fp32 re-association (folded weights) moves results by ~1e-7 of the output scale
        atol = 1e-5 * max(1.0, float(np.abs(expected).max()))
        np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=atol)


def ops(model: onnx.ModelProto) -> list[str]:
    return [node.op_type for node in model.graph.node]
