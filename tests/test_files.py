"""Artifact writes: the umask decides the mode, data reaches the disk before and after the rename,
and two processes writing one run directory at once leave one complete run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from se_deploy.core.artifact import write_run
from se_deploy.core.files import atomic_write_bytes, sha256_file


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_artifacts_take_their_mode_from_the_umask(tmp_path: Path, umask: int, mode: int) -> None:
    old = os.umask(umask)
    try:
        atomic_write_bytes(tmp_path / "model.onnx", b"bytes")
    finally:
        os.umask(old)
    assert (tmp_path / "model.onnx").stat().st_mode & 0o777 == mode
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]  # no temporary left


def test_the_file_is_fsynced_before_the_rename_and_its_directory_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append("fsync dir" if os.path.isdir(f"/proc/self/fd/{fd}") else "fsync file")
        real_fsync(fd)

    def replace(src, dst) -> None:
        events.append("rename")
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    atomic_write_bytes(tmp_path / "a.bin", b"x" * 10)
    assert events == ["fsync file", "rename", "fsync dir"]


# One write_run per writer, both released at once; the writer sleeps a random few ms after each
# file (a slow disk), so without the lock the other's files land between its own and its manifest.
WRITER = """
import random, sys, time
from pathlib import Path
import se_deploy.core.artifact as artifact
run, tag, go = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
write = artifact.atomic_write_bytes
def slow_write(path, data):
    write(path, data)
    time.sleep(random.uniform(0, 0.05))
artifact.atomic_write_bytes = slow_write
while not go.exists():
    time.sleep(0.001)
data = (tag * 1000).encode() * 200
artifact.write_run(run, {"a.bin": data, "b.bin": data[::-1], "c.bin": data[1:]}, {"writer": tag})
"""


def test_two_writers_of_one_run_directory_leave_one_complete_run(tmp_path: Path) -> None:
    for trial in range(8):
        run, go = tmp_path / f"run{trial}", tmp_path / f"go{trial}"
        writers = [
            subprocess.Popen([sys.executable, "-c", WRITER, str(run), tag, str(go)]) for tag in "AB"
        ]
        time.sleep(1.0)  # both started and waiting
        go.touch()
        assert [writer.wait(timeout=120) for writer in writers] == [0, 0]
        manifest = json.loads((run / "manifest.json").read_text())
        writer = manifest["writer"].encode()
        for output in manifest["outputs"]:  # every file is the manifest's writer's, as recorded
            assert set((run / output["path"]).read_bytes()) == set(writer), (trial, output)
            assert sha256_file(run / output["path"]) == output["sha256"], (trial, output)
        assert sorted(p.name for p in run.iterdir()) == ["a.bin", "b.bin", "c.bin", "manifest.json"]


def test_write_run_replaces_a_run_whole(tmp_path: Path) -> None:
    write_run(tmp_path, {"model.onnx": b"one"}, {"n": 1})
    path = write_run(tmp_path, {"model.onnx": b"two"}, {"n": 2})
    manifest = json.loads(path.read_text())
    assert manifest["n"] == 2 and manifest["outputs"][0]["sha256"] == sha256_file(
        tmp_path / "model.onnx"
    )
