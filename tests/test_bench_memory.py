"""Per-phase peak RSS and artifact size on disk."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from se_deploy.bench.memory import MemoryMonitor, artifact_bytes, current_rss_mb

MB = 1024 * 1024


def test_a_phase_sees_its_own_peak_and_the_run_keeps_the_highest() -> None:
    monitor = MemoryMonitor()
    with monitor.phase() as big:
        block = np.ones(80 * MB, np.uint8)  # touched: 80 MB resident
        del block
    with monitor.phase() as small:
        pass
    (big_record,), (small_record,) = big, small
    assert big_record.peak_rss_mb >= big_record.rss_before_mb + 70
    if big_record.peak_scope == "phase":  # Linux: the mark was reset before the second phase
        assert small_record.peak_rss_mb < big_record.peak_rss_mb - 50
    assert monitor.run_peak_mb() >= big_record.peak_rss_mb
    assert 0 < current_rss_mb() < monitor.run_peak_mb()


def test_artifact_bytes_counts_external_data(tmp_path: Path) -> None:
    weight = numpy_helper.from_array(np.zeros((256, 256), np.float32), "W")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 256])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 256])],
        [weight],
    )
    path = tmp_path / "model.onnx"
    onnx.save(
        helper.make_model(graph),
        str(path),
        save_as_external_data=True,
        location="model.onnx.data",
        size_threshold=0,
    )
    data = tmp_path / "model.onnx.data"
    assert artifact_bytes(path) == path.stat().st_size + data.stat().st_size
    assert data.stat().st_size == 256 * 256 * 4
    assert artifact_bytes(tmp_path) == artifact_bytes(path)
    with pytest.raises(FileNotFoundError):
        artifact_bytes(tmp_path / "missing.engine")
