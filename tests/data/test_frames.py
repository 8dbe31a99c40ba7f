"""Frame sources: image folders (6/8 digits, 0/1-based), video files, bad frames and videos."""

import cv2
import numpy as np
import pytest

from vidpose.data.frames import FrameError, ImageFolderFrames, VideoFileFrames, open_frames, read_image, write_video


def colour_frames(n, h=48, w=64):
    """Frames whose flat colour encodes their index, so a wrong frame is easy to see."""
    return [np.full((h, w, 3), (10 * i % 256, 255 - 10 * i % 256, 128), np.uint8) for i in range(n)]


@pytest.mark.parametrize("digits,first", [(6, 0), (8, 1)])
def test_image_folder_numbering(tmp_path, digits, first):
    frames = colour_frames(4)
    for i, f in enumerate(frames):
        cv2.imwrite(str(tmp_path / f"{i + first:0{digits}d}.png"), f)
    source = open_frames(tmp_path)
    assert isinstance(source, ImageFolderFrames) and len(source) == 4 and source.first == first
    for i in (2, 0, 3):
        np.testing.assert_array_equal(source.read(i), frames[i][..., ::-1])  # stored BGR, read RGB


def test_gap_in_numbering_is_an_error_naming_the_file(tmp_path):
    for i in (0, 1, 3):
        cv2.imwrite(str(tmp_path / f"{i:06d}.png"), colour_frames(1)[0])
    source = open_frames(tmp_path)
    assert len(source) == 4
    with pytest.raises(FrameError, match=r"000002\.png: frame 2 is missing"):
        source.read(2)
    with pytest.raises(FrameError, match="out of range"):
        source.read(4)


def test_corrupt_image_and_missing_folder(tmp_path):
    (tmp_path / "000000.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(FrameError, match=r"000000\.jpg: cannot decode"):
        open_frames(tmp_path).read(0)
    with pytest.raises(FrameError, match="no such frame folder"):
        open_frames(tmp_path / "nope")
    with pytest.raises(FrameError, match="does not exist"):
        read_image(tmp_path / "nope.jpg")


def test_video_random_access_matches_sequential_decoding(tmp_path):
    frames = colour_frames(40)
    write_video(tmp_path / "v.mp4", frames, fps=25)
    source = open_frames(tmp_path / "v.mp4")
    assert isinstance(source, VideoFileFrames) and len(source) == 40
    for i in (37, 3, 4, 20, 0, 39, 21):
        got = source.read(i).astype(int)
        errors = [np.abs(got - f).mean() for f in frames]
        assert int(np.argmin(errors)) == i, f"frame {i} decoded as {np.argmin(errors)}"


def test_video_cache_is_bounded(tmp_path):
    write_video(tmp_path / "v.mp4", colour_frames(10), fps=25)
    source = VideoFileFrames(tmp_path / "v.mp4", cache_size=3)
    for i in range(10):
        source.read(i)
    assert len(source._cache) == 3 and list(source._cache) == [7, 8, 9]


def test_truncated_video_is_a_clear_error(tmp_path):
    write_video(tmp_path / "v.mp4", [np.random.default_rng(i).integers(0, 255, (64, 64, 3), np.uint8)
                                     for i in range(30)], fps=25)
    data = (tmp_path / "v.mp4").read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) // 2])
    with pytest.raises(FrameError, match="cut.mp4"):
        source = open_frames(tmp_path / "cut.mp4")
        for i in range(len(source)):
            source.read(i)
    (tmp_path / "junk.mp4").write_bytes(b"\x00" * 100)
    with pytest.raises(FrameError, match="junk.mp4: cannot open video"):
        open_frames(tmp_path / "junk.mp4")


def test_fixture_video_matches_its_jpegs(fixtures):
    folder = fixtures / "videos" / "000001_mpiinew_test"
    jpegs = open_frames(folder)
    video = open_frames(folder / "000001_mpiinew_test.mp4")
    assert len(jpegs) == len(video) == 5
    for i in (4, 1, 3):
        v = video.read(i).astype(int)
        errors = [np.abs(v - jpegs.read(k)).mean() for k in range(5)]
        assert int(np.argmin(errors)) == i and errors[i] < 5


@pytest.mark.parametrize("names", [["00001.jpg", "00002.jpg", "00003.jpg"], ["frame_9.png", "frame_10.png", "frame_11.png"]])
def test_any_consistent_numeric_naming_reads_in_numeric_order(tmp_path, names):
    frames = colour_frames(len(names))
    for name, image in zip(names, frames):
        cv2.imwrite(str(tmp_path / name), image)
    source = open_frames(tmp_path)
    assert len(source) == 3
    for i in range(3):
        assert np.abs(source.read(i).astype(int) - frames[i][..., ::-1]).mean() < 3  # JPEG, in order 9, 10, 11


def test_an_empty_folder_and_a_folder_of_two_namings_are_clear_errors(tmp_path):
    with pytest.raises(FrameError, match="no numbered frames"):
        open_frames(tmp_path)
    cv2.imwrite(str(tmp_path / "a_1.png"), colour_frames(1)[0])
    cv2.imwrite(str(tmp_path / "b_1.png"), colour_frames(1)[0])
    with pytest.raises(FrameError, match="more than one way"):
        open_frames(tmp_path)


def test_a_frame_range_renumbers_from_zero_and_refuses_an_empty_range(tmp_path):
    from vidpose.data.frames import FrameRange

    frames = colour_frames(5)
    for i, image in enumerate(frames):
        cv2.imwrite(str(tmp_path / f"{i:06d}.png"), image)
    part = FrameRange(open_frames(tmp_path), 1, 4)
    assert len(part) == 3
    np.testing.assert_array_equal(part.read(0), frames[1][..., ::-1])
    with pytest.raises(FrameError, match="empty"):
        FrameRange(open_frames(tmp_path), 4, 4)


def _vfr_video(path, n=20, h=48, w=64):
    """An H.264 file whose frames are 40 ms or 170 ms apart (pts set irregularly); frame i is
    grey level 12 * i."""
    import av
    from fractions import Fraction

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        t = 0
        for i in range(n):
            frame = av.VideoFrame.from_ndarray(np.full((h, w, 3), 12 * i, np.uint8), format="rgb24")
            frame.pts, frame.time_base = t, Fraction(1, 1000)
            t += 40 if i % 3 else 170
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def test_a_variable_frame_rate_video_reads_every_frame_in_order(tmp_path):
    """Issue 41: frame 2 of a VFR file was refused as 'may be truncated'; every frame decodes, in
    presentation order, sequentially and at random, with each frame's own time."""
    _vfr_video(tmp_path / "vfr.mp4")
    source = open_frames(tmp_path / "vfr.mp4")
    assert len(source) == 20
    grey = [int(source.read(i).mean().round()) for i in range(20)]
    assert all(abs(g - 12 * i) <= 3 for i, g in enumerate(grey)), grey
    again = open_frames(tmp_path / "vfr.mp4")
    assert abs(int(again.read(13).mean().round()) - 12 * 13) <= 3
    assert again.frame_time(0) == 0 and again.frame_time(1) == pytest.approx(0.17, abs=2e-3)
    assert again.frame_time(2) == pytest.approx(0.21, abs=2e-3)
    assert again.size() == (48, 64)


def test_write_video_streams_frames_keeps_their_times_and_refuses_unknown_types(tmp_path):
    made = []

    def frames():
        for i in range(6):
            made.append(i)
            yield np.full((30, 40, 3), 40 * i, np.uint8)

    write_video(tmp_path / "t.mp4", frames(), fps=5, times=[0, 0.2, 0.4, 1.4, 1.6, 1.8])
    source = open_frames(tmp_path / "t.mp4")
    assert made == list(range(6)) and len(source) == 6 and source.size() == (30, 40)
    assert [round(source.frame_time(i), 2) for i in range(6)] == [0, 0.2, 0.4, 1.4, 1.6, 1.8]
    write_video(tmp_path / "r.avi", frames(), fps=5)
    assert len(open_frames(tmp_path / "r.avi")) == 6 and float(open_frames(tmp_path / "r.avi").fps) == 5
    for bad in ("out.gif", "out"):
        with pytest.raises(FrameError, match="cannot write a video of type"):
            write_video(tmp_path / bad, frames())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.avi", "t.mp4"]  # no temporary file left


def test_frames_in_memory_and_frame_names(tmp_path):
    from vidpose.data.frames import ArrayFrames, FrameRange

    array = np.zeros((3, 8, 10, 3), np.uint8)
    source = ArrayFrames(array)
    assert len(source) == 3 and source.size() == (8, 10) and source.fps is None
    assert source.frame_name(2) == "000002.jpg" and source.frame_time(1) is None
    assert len(ArrayFrames(list(array))) == 3
    for bad in (array.astype(np.float32), array[0], [], [array[0], np.zeros((4, 4, 3), np.uint8)]):
        with pytest.raises(FrameError, match=r"expected \(T, H, W, 3\) uint8 RGB frames"):
            ArrayFrames(bad)
    for i in range(1, 4):
        cv2.imwrite(str(tmp_path / f"img_{i}.png"), np.zeros((4, 4, 3), np.uint8))
    folder = open_frames(tmp_path)
    assert [folder.frame_name(i) for i in range(3)] == ["img_1.png", "img_2.png", "img_3.png"]
    assert FrameRange(folder, 1, 3).frame_name(0) == "img_2.png"
