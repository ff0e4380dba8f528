"""Why the build's `conv-weights` form widens the gate before scaling a blocked weight.

ORT stores a dense NchwcConv's weight as OIHWBiBo, [O/B][I/B][k*k][B(i)][B(o)]. Scaling its
input channels by a gate g (length I) is a Mul against g viewed as (I/B, 1, B, 1), an
innermost size-1 broadcast; the build instead first widens g to (I/B, 1, B, B) with a K=1
MatMul by ones(1, B). This times both one-node forms of that multiply on one weight, ORT CPU,
interleaved in one process, with the gate a graph input (as it is at run time):

    python benchmarks/gate_broadcast.py [--out-channels 160] [--in-channels 960] [--rounds 40]

The figures include one session.run's fixed overhead: the `copy` row (an Identity of the gate)
shows it.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from se_deploy.backends.ort import cpu_flags, nchwc_block_size


def graph(form: str, out_channels: int, in_channels: int, block: int) -> onnx.ModelProto:
    """One gate-times-weight multiply, in `form` narrow | widened | copy."""
    dims = [out_channels // block, in_channels // block, 1, block, block]
    weight = np.random.default_rng(0).standard_normal(dims).astype(np.float32)
    init = [numpy_helper.from_array(weight, "w")]
    if form == "narrow":
        init.append(_shape("narrow", [-1, 1, block, 1]))
        nodes = [
            helper.make_node("Reshape", ["g", "narrow"], ["lanes"]),
            helper.make_node("Mul", ["w", "lanes"], ["y"]),
        ]
    elif form == "widened":
        init += [
            _shape("column", [-1, 1]),
            numpy_helper.from_array(np.ones((1, block), np.float32), "ones"),
            _shape("wide", [-1, 1, block, block]),
        ]
        nodes = [
            helper.make_node("Reshape", ["g", "column"], ["g1"]),
            helper.make_node("MatMul", ["g1", "ones"], ["g2"]),
            helper.make_node("Reshape", ["g2", "wide"], ["lanes"]),
            helper.make_node("Mul", ["w", "lanes"], ["y"]),
        ]
    else:
        nodes = [helper.make_node("Identity", ["g"], ["y"])]
    out_dims = [in_channels] if form == "copy" else dims
    model = helper.make_model(
        helper.make_graph(
            nodes,
            form,
            [helper.make_tensor_value_info("g", TensorProto.FLOAT, [in_channels])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, out_dims)],
            init,
        ),
        opset_imports=[helper.make_opsetid("", 17)],
    )
    onnx.checker.check_model(model)
    return model


def _shape(name: str, dims: list[int]) -> onnx.TensorProto:
    return numpy_helper.from_array(np.array(dims, np.int64), name)


def session(model: onnx.ModelProto, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    return ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )


def interleaved_medians(
    sessions: dict[str, ort.InferenceSession],
    feeds: dict[str, dict[str, np.ndarray]],
    rounds: int,
    calls: int,
) -> dict[str, list[float]]:
    """Per-round median microseconds of each session's call, the sessions taking turns in every
    round so that a slow spell of the machine hits them all alike."""
    medians: dict[str, list[float]] = {name: [] for name in sessions}
    for _ in range(rounds):
        for name, runner in sessions.items():
            times = []
            for _ in range(calls):
                start = time.perf_counter()
                runner.run(None, feeds[name])
                times.append(time.perf_counter() - start)
            medians[name].append(float(np.median(times)) * 1e6)
    return medians


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-channels", type=int, default=160)
    parser.add_argument("--in-channels", type=int, default=960)
    parser.add_argument("--block", type=int, help="NCHWc block (default: this machine's)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--calls", type=int, default=50, help="calls per form per round")
    args = parser.parse_args()
    args.block = args.block or nchwc_block_size() or 16
    forms = ("narrow", "widened", "copy")
    sessions = {
        form: session(graph(form, args.out_channels, args.in_channels, args.block), args.threads)
        for form in forms
    }
    gate = {"g": np.random.default_rng(1).random(args.in_channels, dtype=np.float32)}
    medians = interleaved_medians(sessions, {form: gate for form in forms}, args.rounds, args.calls)
    print(
        f"gate x blocked weight ({args.out_channels}x{args.in_channels}, block {args.block}), "
        f"{args.threads} thread(s), {args.rounds} interleaved rounds x {args.calls} calls; "
        f"onnxruntime {ort.__version__}; CPU flags: {' '.join(cpu_flags())}"
    )
    for form in forms:
        values = np.array(medians[form])
        low, high = np.percentile(values, [5, 95])
        print(
            f"  {form:8s} median {np.median(values):7.1f} us  (rounds 5-95%: {low:.1f}-{high:.1f})"
        )


if __name__ == "__main__":
    main()
