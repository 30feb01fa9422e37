"""Recording the rendered caller: whole or not at all, never blocking, with the usual file mode."""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import av
import numpy as np
import pytest

from codec.atomic import atomic_write
from receiver import sinks
from receiver.live import ShownFrame
from receiver.sinks import Recorder, RecorderError
from receiver.videoout import write_mp4

INFO = ShownFrame(seq=0, held=False, capture_ms=0.0)


def frames(n: int, size: int = 64) -> list[np.ndarray]:
    return [np.full((size, size, 3), 10 + 3 * i, np.uint8) for i in range(n)]


def frame_count(path: Path) -> int:
    with av.open(str(path)) as video:
        return sum(1 for _ in video.decode(video=0))


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_recorder_writes_every_frame_it_was_given(tmp_path: Path) -> None:
    """Reproduction 1: the writer thread died on the first frame (`iter(queue.get, None)` compares
    an array with None), so no file was ever written."""
    out = tmp_path / "out.mp4"
    recorder = Recorder(out, fps=15.0)
    for frame in frames(40):
        recorder(frame, INFO)
        time.sleep(0.002)
    assert recorder.close(timeout_s=10.0)
    assert recorder.error is None and recorder.written and recorder.frames == 40
    assert frame_count(out) == 40 and leftovers(tmp_path) == []


def test_recorder_close_never_blocks_when_the_writer_is_gone(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Reproduction 1: with the writer gone and the queue full, `close` blocked in `put(None)` for ever."""
    def broken(path: object, frames: object, fps: float, crf: int = 18) -> int:
        raise OSError("no space left on device")

    monkeypatch.setattr(sinks, "encode_mp4", broken)
    failures: list[BaseException] = []
    recorder = Recorder(tmp_path / "out.mp4", fps=15.0, on_failure=failures.append)
    recorder(frames(1, 16)[0], INFO)
    recorder._thread.join(5.0)  # the writer is gone
    for frame in frames(300, 16):  # more than the queue holds
        recorder(frame, INFO)
    t0 = time.monotonic()
    assert not recorder.close(timeout_s=1.0)
    assert time.monotonic() - t0 < 1.5
    assert isinstance(recorder.error, OSError) and failures == [recorder.error]
    assert not (tmp_path / "out.mp4").exists() and leftovers(tmp_path) == []


def test_a_recorder_that_cannot_keep_up_fails_and_is_abandoned(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()

    def stuck(path: object, frames: object, fps: float, crf: int = 18) -> int:
        release.wait(10.0)  # an encoder that never gets through its first frame
        return 0

    monkeypatch.setattr(sinks, "encode_mp4", stuck)
    failures: list[BaseException] = []
    recorder = Recorder(tmp_path / "out.mp4", fps=15.0, max_queue_s=1.0, on_failure=failures.append)
    for frame in frames(40, 16):
        recorder(frame, INFO)
    assert len(failures) == 1 and isinstance(failures[0], RecorderError)
    assert "cannot keep up" in str(failures[0])
    t0 = time.monotonic()
    assert not recorder.close(timeout_s=0.5)
    assert time.monotonic() - t0 < 1.0
    release.set()
    recorder._thread.join(5.0)
    assert not (tmp_path / "out.mp4").exists() and leftovers(tmp_path) == []


def test_recorder_without_frames_writes_nothing(tmp_path: Path) -> None:
    recorder = Recorder(tmp_path / "out.mp4", fps=15.0)
    assert not recorder.close(timeout_s=5.0)
    assert isinstance(recorder.error, RecorderError) and leftovers(tmp_path) == []
    assert not (tmp_path / "out.mp4").exists()


@pytest.fixture
def umask_022() -> object:
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_written_mp4_follows_the_umask(tmp_path: Path, umask_022: object) -> None:
    """Reproduction 5: decoded and recorded .mp4 files were created 0600 (mkstemp's mode)."""
    write_mp4(tmp_path / "decoded.mp4", frames(3), 15.0)
    recorder = Recorder(tmp_path / "recorded.mp4", fps=15.0)
    for frame in frames(3):
        recorder(frame, INFO)
    assert recorder.close(timeout_s=10.0)
    atomic_write(tmp_path / "stats.json", b"{}")
    for name in ("decoded.mp4", "recorded.mp4", "stats.json"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o644, name
    assert leftovers(tmp_path) == []
