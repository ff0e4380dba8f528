"""benchmarks/se_kernels.py times candidate ORT ops for each SE part against each other: they must
compute the same thing, or the comparison says nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort

BENCHMARKS = Path(__file__).parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))
import se_kernels  # noqa: E402  (a script in benchmarks/, not a package)

BLOCK = 16


def run(model, feed: dict[str, np.ndarray]) -> np.ndarray:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    return session.run(None, feed)[0]


def test_every_pool_form_is_the_mean_of_the_blocked_map() -> None:
    channels, size = 32, 6
    x = np.random.default_rng(0).random((1, channels // BLOCK, size * size, BLOCK), np.float32)
    expected = x.mean(axis=2).reshape(-1)  # [C/B][B]: the NCHWc gate's memory order
    for op in ("nchwc-pool", "reduce-mean", "matmul"):
        pooled = run(se_kernels.pool_graph(op, channels, size, BLOCK), {"x": x})
        np.testing.assert_allclose(pooled.reshape(-1), expected, rtol=1e-5, err_msg=op)


def test_both_fc_forms_compute_the_same_gate() -> None:
    x = np.random.default_rng(1).random((1, 48), np.float32)
    conv = run(se_kernels.fc_graph("conv", 48, 12, chain=2), {"x": x.reshape(1, 48, 1, 1)})
    gemm = run(se_kernels.fc_graph("gemm", 48, 12, chain=2), {"x": x})
    np.testing.assert_allclose(conv.reshape(-1), gemm.reshape(-1), rtol=1e-5)


def test_the_int8_gate_forms_agree_with_the_float_product() -> None:
    """unit-dw and diagonal run the same requantization (bit-identical); QLinearMul, whose gate
    is quantized first, lands within one step of x * g."""
    channels, size = 24, 5
    rng = np.random.default_rng(2)
    x = rng.integers(0, 256, (1, size, size, channels), dtype=np.uint8)
    gate = rng.random(channels, dtype=np.float32)
    unit = run(se_kernels.int8_gate_graph("unit-dw", channels, size), {"x": x, "g": gate})
    diagonal = run(se_kernels.int8_gate_graph("diagonal", channels, size), {"x": x, "g": gate})
    np.testing.assert_array_equal(unit, diagonal)
    np.testing.assert_allclose(unit, np.clip(np.rint(x * gate), 0, 255), atol=1)
    gate_q = np.rint(gate * 255).astype(np.uint8).reshape(1, 1, 1, channels)
    mul = run(se_kernels.int8_gate_graph("qlinear-mul", channels, size), {"x": x, "g": gate_q})
    assert np.abs(mul.astype(int) - unit.astype(int)).max() <= 1


def test_the_script_prints_a_rate_per_session() -> None:
    script = [sys.executable, str(BENCHMARKS / "se_kernels.py")]
    tiny = ["--maps", "32x6", "--fcs", "48x12", "--chain", "1", "--rounds", "2", "--calls", "2"]
    done = subprocess.run(
        [*script, *tiny],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=BENCHMARKS,
    )
    assert done.returncode == 0, done.stderr
    rows = [line.split() for line in done.stdout.splitlines() if line.startswith("  ")][1:]
    names = {" ".join(row[:-2]) for row in rows}
    assert "pool 32x6x6 nchwc-pool" in names and "int8 gate 32x6x6 unit-dw" in names
    assert "fc 48x12 x1 gemm" in names and len(rows) == 1 + 4 + 3 + 2
    assert all(float(row[-2]) > 0 for row in rows)


def test_a_shape_that_is_no_axb_is_a_one_line_usage_error() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "se_kernels.py"), "--maps", "64x"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert (
        done.stderr.strip()
        .splitlines()[-1]
        .endswith("argument --maps: '64x' is no AxB of positive integers (e.g. 64x112)")
    )
