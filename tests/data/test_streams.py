"""Live sources: frames read front to back once, and the buffer a causal window reads."""

import numpy as np
import pytest

from vidpose.data.frames import FrameError, write_video
from vidpose.data.streams import FrameBuffer, open_stream


def test_the_buffer_holds_the_last_frames_and_refuses_older_and_later_ones():
    buffer = FrameBuffer(keep=3)
    for t in range(5):
        assert buffer.append(np.full((2, 2, 3), t, np.uint8)) == t
    assert len(buffer) == 5 and buffer.read(4)[0, 0, 0] == 4 and buffer.read(2)[0, 0, 0] == 2
    with pytest.raises(FrameError, match="no longer held"):
        buffer.read(1)
    with pytest.raises(FrameError, match="out of range"):
        buffer.read(5)


def test_a_video_file_and_a_frame_folder_are_read_front_to_back(tmp_path):
    import cv2

    frames = [np.full((32, 48, 3), 20 * t, np.uint8) for t in range(7)]
    write_video(tmp_path / "v.mp4", frames, fps=10)
    got = list(open_stream(tmp_path / "v.mp4"))
    assert len(got) == 7 and got[0].shape == (32, 48, 3)
    assert np.argsort([f.mean() for f in got]).tolist() == list(range(7))
    assert open_stream(tmp_path / "v.mp4").fps == 10
    folder = tmp_path / "frames"
    folder.mkdir()
    for t, f in enumerate(frames[:3]):
        cv2.imwrite(str(folder / f"{t + 1:05d}.png"), f)
    assert [int(f[0, 0, 0]) for f in open_stream(folder)] == [0, 20, 40]


def test_a_source_that_is_nothing_is_a_clear_error(tmp_path):
    with pytest.raises(FrameError, match="not a camera index, a stream URL"):
        open_stream(tmp_path / "absent.mp4")
    with pytest.raises(FrameError, match="camera 97"):
        open_stream("97")
