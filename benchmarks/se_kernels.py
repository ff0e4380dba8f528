"""How fast ONNX Runtime's CPU kernels run each part of an SE block: is there a faster op to call?

The squeeze (global pool, then two 1x1 FCs) is the part of SE that no placement of the gate
multiply removes, and the INT8 gate multiply the part the INT8 build can only move to a faster
kernel (`se_cost.py --part built`). This times each candidate ORT op on the tensors an SE block
hands it, one op per session, interleaved rounds:

- pool: the map in ORT's NCHWc layout, [C/B][H*W][B] (the memory order of the NCHWc tensor ORT
  passes between its blocked ops), pooled by the NCHWc GlobalAveragePool ORT's layout pass
  uses, by ReduceMean over the spatial axis, and by MatMul with a 1/HW row; a Relu over the same
  tensor (one read and one write per element) is the streaming reference. GB/s counts the map's
  bytes read once.
- fc: a chain of `--chain` squeeze pairs (C -> C/r -> C, Relu, HardSigmoid) on a (1, C) vector,
  as 1x1 Conv (ORT turns it into NCHWc convs) and as Gemm. GB/s counts the weight bytes: at
  batch 1 every weight is read once per inference.
- int8 gate: a uint8 NHWC map times a per-channel gate given at run time, as the build's
  depthwise 1x1 QLinearConv with unit weights and the gate as weight scale (`unit-dw`), as
  QLinearMul (what ORT fuses a QDQ Mul into), and as a dense 1x1 QLinearConv with a diagonal
  weight (`diagonal`: MLAS's int8 conv kernels on C MACs per element). GB/s counts the map.
- copy: one Identity of a small vector, the fixed cost of a session.run in every row.

    python benchmarks/se_kernels.py [--maps 64x112,128x56,...] [--fcs 960x240,...]
        [--chain 8] [--rounds 20] [--calls 30] [--threads 1]

The default maps are se_mobilenet's SE maps at 224, the default FCs those of
mobilenet_v3_large's largest blocks and se_mobilenet's (reduction 4 and 16).
"""

from __future__ import annotations

import argparse

import numpy as np
import onnx
import onnxruntime as ort
from gate_broadcast import interleaved_medians, session  # this folder's script
from onnx import TensorProto, helper, numpy_helper

from se_deploy.backends.ort import cpu_flags, nchwc_block_size

NCHWC_DOMAIN = "com.microsoft.nchwc"
MS_DOMAIN = "com.microsoft"
OPSETS = [helper.make_opsetid("", 18)]


def pool_graph(op: str, channels: int, size: int, block: int) -> onnx.ModelProto:
    """`op` over one blocked map [1, C/B, H*W, B]: nchwc-pool | reduce-mean | matmul | relu."""
    pixels = size * size
    init: list[onnx.TensorProto] = []
    if op == "nchwc-pool":
        init.append(_ints("dims", [1, channels, size, size]))
        nodes = [
            helper.make_node("Reshape", ["x", "dims"], ["x4"]),
            helper.make_node("GlobalAveragePool", ["x4"], ["y"], domain=NCHWC_DOMAIN),
        ]
    elif op == "reduce-mean":
        init.append(_ints("axis", [2]))
        nodes = [helper.make_node("ReduceMean", ["x", "axis"], ["y"], keepdims=1)]
    elif op == "matmul":
        mean_row = np.full((1, pixels), 1.0 / pixels, np.float32)
        init.append(numpy_helper.from_array(mean_row, "mean_row"))
        nodes = [helper.make_node("MatMul", ["mean_row", "x"], ["y"])]
    else:
        nodes = [helper.make_node("Relu", ["x"], ["y"])]
    return _model(nodes, [1, channels // block, pixels, block], init)


def fc_graph(op: str, channels: int, squeezed: int, chain: int) -> onnx.ModelProto:
    """`chain` squeeze pairs C -> squeezed -> C on a (1, C) vector, as 1x1 `conv` or `gemm`."""
    rng = np.random.default_rng(0)
    init, nodes, tensor = [], [], "x"
    for link in range(chain):
        for step, (rows, cols) in enumerate(((squeezed, channels), (channels, squeezed))):
            weight = (rng.standard_normal((rows, cols)) * 0.05).astype(np.float32)
            name = f"w{link}_{step}"
            if op == "conv":
                init.append(numpy_helper.from_array(weight.reshape(rows, cols, 1, 1), name))
                nodes.append(helper.make_node("Conv", [tensor, name], [f"{name}_out"]))
            else:
                init.append(numpy_helper.from_array(weight.T.copy(), name))
                nodes.append(helper.make_node("Gemm", [tensor, name], [f"{name}_out"]))
            activation = "Relu" if step == 0 else "HardSigmoid"
            tensor = f"{name}_{activation}"
            nodes.append(helper.make_node(activation, [f"{name}_out"], [tensor]))
    nodes.append(helper.make_node("Identity", [tensor], ["y"]))
    return _model(nodes, [1, channels, 1, 1] if op == "conv" else [1, channels], init)


def int8_gate_graph(op: str, channels: int, size: int) -> onnx.ModelProto:
    """A (1, H, W, C) uint8 map times a run-time gate: unit-dw | qlinear-mul | diagonal."""
    init = [
        numpy_helper.from_array(np.array(value, dtype), name)
        for name, value, dtype in (
            ("x_scale", 0.02, np.float32),
            ("x_zero", 0, np.uint8),
            ("y_scale", 0.02, np.float32),
            ("y_zero", 0, np.uint8),
            ("g_scale", 1 / 255, np.float32),
        )
    ]
    x, scales = ["x", "x_scale", "x_zero"], ["y_scale", "y_zero"]
    if op == "qlinear-mul":
        gate = helper.make_tensor_value_info("g", TensorProto.UINT8, [1, 1, 1, channels])
        node = helper.make_node(
            "QLinearMul", [*x, "g", "g_scale", "x_zero", *scales], ["y"], domain=MS_DOMAIN
        )
    else:
        gate = helper.make_tensor_value_info("g", TensorProto.FLOAT, [channels])
        depthwise = op == "unit-dw"
        weight = np.ones((channels, 1, 1, 1)) if depthwise else np.eye(channels)[:, :, None, None]
        init += [
            numpy_helper.from_array(weight.astype(np.int8), "w"),
            numpy_helper.from_array(np.array(0, np.int8), "w_zero"),
        ]
        node = helper.make_node(
            "QLinearConv",
            [*x, "w", "g", "w_zero", *scales],
            ["y"],
            domain=MS_DOMAIN,
            group=channels if depthwise else 1,
            kernel_shape=[1, 1],
            channels_last=1,
        )
    graph = helper.make_graph(
        [node],
        "int8_gate",
        [helper.make_tensor_value_info("x", TensorProto.UINT8, [1, size, size, channels]), gate],
        [helper.make_tensor_value_info("y", TensorProto.UINT8, None)],
        init,
    )
    return helper.make_model(graph, opset_imports=[*OPSETS, helper.make_opsetid(MS_DOMAIN, 1)])


def copy_graph() -> onnx.ModelProto:
    return _model([helper.make_node("Identity", ["x"], ["y"])], [1, 16], [])


def _model(
    nodes: list[onnx.NodeProto], dims: list[int], init: list[onnx.TensorProto]
) -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes,
        "squeeze_kernel",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, dims)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        init,
    )
    return helper.make_model(graph, opset_imports=[*OPSETS, helper.make_opsetid(NCHWC_DOMAIN, 1)])


def _feed(runner: ort.InferenceSession, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Random inputs of each input's type: uint8 maps and gates, float tensors in [0, 1)."""
    feed = {}
    for spec in runner.get_inputs():
        if spec.type == "tensor(uint8)":
            feed[spec.name] = rng.integers(0, 256, spec.shape, dtype=np.uint8)
        else:
            feed[spec.name] = rng.random(spec.shape, dtype=np.float32)
    return feed


def _ints(name: str, values: list[int]) -> onnx.TensorProto:
    return numpy_helper.from_array(np.array(values, np.int64), name)


def _pairs(text: str) -> list[tuple[int, int]]:
    """'64x112,128x56' as [(64, 112), (128, 56)]; anything else is argparse's one-line error."""
    pairs = []
    for item in text.split(","):
        first, _, second = item.partition("x")
        if not (first.isdigit() and second.isdigit() and int(first) > 0 and int(second) > 0):
            raise argparse.ArgumentTypeError(
                f"'{item}' is no AxB of positive integers (e.g. 64x112)"
            )
        pairs.append((int(first), int(second)))
    return pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--maps", type=_pairs, default="64x112,128x56,256x28,512x14,1024x7", help="CxH"
    )
    parser.add_argument(
        "--fcs", type=_pairs, default="960x240,672x168,480x120,512x32,128x8", help="CxC/r"
    )
    parser.add_argument("--chain", type=int, default=8, help="squeeze pairs per fc session")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--calls", type=int, default=30, help="calls per session per round")
    args = parser.parse_args()
    block = nchwc_block_size() or 16
    models = {"copy": copy_graph()}
    bytes_read = {"copy": 0.0}  # what GB/s counts: the map once, or every FC weight once
    for channels, size in args.maps:
        for op in ("nchwc-pool", "reduce-mean", "matmul", "relu"):
            name = f"pool {channels}x{size}x{size} {op}"
            models[name] = pool_graph(op, channels, size, block)
            bytes_read[name] = channels * size * size * 4.0
    for channels, size in args.maps:
        for op in ("unit-dw", "qlinear-mul", "diagonal"):
            name = f"int8 gate {channels}x{size}x{size} {op}"
            models[name] = int8_gate_graph(op, channels, size)
            bytes_read[name] = channels * size * size
    for channels, squeezed in args.fcs:
        for op in ("conv", "gemm"):
            name = f"fc {channels}x{squeezed} x{args.chain} {op}"
            models[name] = fc_graph(op, channels, squeezed, args.chain)
            bytes_read[name] = 2.0 * channels * squeezed * 4 * args.chain
    sessions = {name: session(model, args.threads) for name, model in models.items()}
    rng = np.random.default_rng(1)
    feeds = {name: _feed(runner, rng) for name, runner in sessions.items()}
    medians = interleaved_medians(sessions, feeds, args.rounds, args.calls)
    print(
        f"SE kernels, ORT CPU, {args.threads} thread(s), NCHWc block {block}, "
        f"{args.rounds} interleaved rounds x {args.calls} calls; onnxruntime {ort.__version__}; "
        f"CPU flags: {' '.join(cpu_flags())}"
    )
    print(f"  {'session':40s} {'median us':>10s} {'GB/s':>7s}")
    for name, values in medians.items():
        micros = float(np.median(values))
        rate = f"{bytes_read[name] / micros / 1e3:7.1f}" if bytes_read[name] else "      -"
        print(f"  {name:40s} {micros:10.1f} {rate}")


if __name__ == "__main__":
    main()
