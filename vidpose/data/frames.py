"""Frames from a PoseTrack image folder or straight from a video file, behind one interface.

``open_frames(path)`` returns a ``FrameSource``: ``len(source)`` frames, ``source.read(i)`` an RGB
uint8 array (H, W, 3) for 0-based position i, with a small LRU cache in front.

- Image folders: any one consistent numbered naming, an optional prefix and a number
  (``000000.jpg`` PoseTrack18, ``00000001.jpg`` PoseTrack17 renamed, ``00001.jpg``,
  ``frame_12.png``), 0- or 1-based, padded or not. Position i is the file numbered ``first + i``;
  a gap in the numbering is an error naming the missing file, never a silent shift, and a folder
  mixing two namings is an error naming both.
- Video files are decoded with PyAV. Opening one reads its packets' timestamps (no decoding):
  position i is the i-th frame in presentation order, so a variable frame rate is read as it is.
  ``read(i)`` seeks to the nearest key frame before i and decodes forward, so a random read
  never decodes the whole file; consecutive reads continue the current decoder. A file whose
  header counts more frames than it holds is truncated: reading past the cut says so.
A missing, unreadable or undecodable frame raises ``FrameError`` naming the file and the frame.
"""

from __future__ import annotations

import itertools
import os
import queue
import re
import threading
from bisect import bisect_left
from collections import OrderedDict
from fractions import Fraction
from pathlib import Path
from typing import Iterable, Iterator

import av
import cv2
import numpy as np

from vidpose.errors import VidposeError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")
_FRAME_NAME = re.compile(r"^(?P<prefix>.*?)(?P<number>\d+)$")


class FrameError(VidposeError, IOError):
    """A frame that cannot be read. The message names the file and the frame."""


class FrameSource:
    """Base of the frame readers: ``len()``, ``read(i)`` and an LRU cache of decoded frames."""

    path: Path
    #: frames per second of a video; None for a frame folder, which has no rate
    fps: Fraction | None = None

    def __init__(self, cache_size: int = 32):
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self.cache_size = cache_size

    def __len__(self) -> int:
        raise NotImplementedError

    def _read(self, index: int) -> np.ndarray:
        raise NotImplementedError

    def has(self, index: int) -> bool:
        """Whether position ``index`` holds a frame (an image folder may have gaps)."""
        return 0 <= index < len(self)

    def size(self) -> tuple[int, int]:
        """(height, width) of the frames: the first frame's."""
        first = next((i for i in range(len(self)) if self.has(i)), 0)
        return self.read(first).shape[:2]

    def frame_name(self, index: int) -> str:
        """The image file name of position ``index`` (a folder's own; ``000000.jpg`` ... otherwise)."""
        return f"{index:06d}.jpg"

    def frame_time(self, index: int) -> float | None:
        """Seconds from the first frame to position ``index``; None without a frame rate."""
        return None if self.fps is None else index / float(self.fps)

    def read(self, index: int) -> np.ndarray:
        """RGB uint8 frame at 0-based position ``index``."""
        if not 0 <= index < len(self):
            raise FrameError(f"{self.path}: frame {index} out of range (the source has {len(self)} frames)")
        if index in self._cache:
            self._cache.move_to_end(index)
            return self._cache[index]
        frame = self._read(index)
        self._cache[index] = frame
        if len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return frame


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as RGB uint8; a missing or corrupt file raises ``FrameError``."""
    path = Path(path)
    if not path.is_file():
        raise FrameError(f"{path}: frame file does not exist")
    data = np.fromfile(str(path), dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise FrameError(f"{path}: cannot decode image (corrupt or not an image)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


class ImageFolderFrames(FrameSource):
    """Frames stored as numbered images in one folder."""

    def __init__(self, folder: str | os.PathLike, cache_size: int = 32):
        super().__init__(cache_size)
        self.path = Path(folder)
        if not self.path.is_dir():
            raise FrameError(f"{self.path}: frame folder does not exist")
        namings: dict[tuple[str, str], dict[int, Path]] = {}
        for p in self.path.iterdir():
            m = _FRAME_NAME.match(p.stem)
            if p.suffix.lower() in IMAGE_EXTENSIONS and m:
                files = namings.setdefault((m["prefix"], p.suffix.lower()), {})
                number = int(m["number"])
                if number in files:
                    raise FrameError(f"{self.path}: {files[number].name} and {p.name} are both frame {number}")
                files[number] = p
        if not namings:
            raise FrameError(f"{self.path}: no numbered frames (images named like 000000.jpg, 00001.png or "
                             f"frame_12.jpg)")
        if len(namings) > 1:
            kinds = ", ".join(f"{prefix or ''}<number>{ext} ({len(f)} files)" for (prefix, ext), f in namings.items())
            raise FrameError(f"{self.path}: frames named in more than one way ({kinds}); keep one naming per folder")
        (self.prefix, _), numbered = next(iter(namings.items()))
        widths = {len(_FRAME_NAME.match(f.stem)["number"]) for f in numbered.values()}
        self.digits = widths.pop() if len(widths) == 1 else 0  # zero-padded to a fixed width, or not padded
        self.first = min(numbered)
        self.last = max(numbered)
        self.extension = numbered[self.first].suffix
        self._files = numbered

    def __len__(self) -> int:
        return self.last - self.first + 1

    def has(self, index: int) -> bool:
        return (self.first + index) in self._files

    def frame_name(self, index: int) -> str:
        number = self.first + index
        if number in self._files:
            return self._files[number].name
        return f"{self.prefix}{number:0{self.digits}d}{self.extension}"

    def file(self, index: int) -> Path:
        number = self.first + index
        if number not in self._files:
            raise FrameError(f"{self.path / self.frame_name(index)}: frame {index} is missing from the folder "
                             f"(frames {self.first}..{self.last} expected without gaps)")
        return self._files[number]

    def _read(self, index: int) -> np.ndarray:
        return read_image(self.file(index))


class VideoFileFrames(FrameSource):
    """Frames decoded from a video file with PyAV, seeking instead of decoding from the start."""

    def __init__(self, path: str | os.PathLike, cache_size: int = 32):
        super().__init__(cache_size)
        self.path = Path(path)
        if not self.path.is_file():
            raise FrameError(f"{self.path}: video file does not exist")
        try:
            self._container = av.open(str(self.path))
        except av.FFmpegError as e:
            raise FrameError(f"{self.path}: cannot open video ({e})") from None
        if not self._container.streams.video:
            raise FrameError(f"{self.path}: file has no video stream")
        self._stream = self._container.streams.video[0]
        self._stream.thread_type = "AUTO"
        self._time_base: Fraction = self._stream.time_base
        rate = self._stream.average_rate or self._stream.guessed_rate
        if not rate:
            raise FrameError(f"{self.path}: video stream has no frame rate")
        self.fps = Fraction(rate)
        self._start = self._stream.start_time or 0
        self._times = self._packet_times()
        self._len = max(self._header_frames(), len(self._times or ()))
        if not self._len:
            raise FrameError(f"{self.path}: cannot tell how many frames the video has")
        self._decoder = None
        self._next_index = None  # index the open decoder will produce next

    def _header_frames(self) -> int:
        """How many frames the header says (or the duration implies); 0 when it does not say."""
        n = self._stream.frames
        if not n and self._stream.duration:
            n = int(round(float(self._stream.duration * self._time_base * self.fps)))
        if not n and self._container.duration:
            n = int(round(self._container.duration / 1e6 * float(self.fps)))
        return int(n or 0)

    def _packet_times(self) -> list[int] | None:
        """Every frame's timestamp in presentation order, read from the packets without decoding;
        None when a packet has none (frames are then placed by the average rate)."""
        times = []
        try:
            for packet in self._container.demux(self._stream):
                if packet.size == 0:
                    continue  # the demuxer's final flush packet
                if packet.pts is None:
                    return None
                times.append(packet.pts)
        except av.FFmpegError:
            pass  # a damaged or truncated file: the frames before the damage (reading past it says so)
        return sorted(times)

    def __len__(self) -> int:
        return self._len

    def size(self) -> tuple[int, int]:
        return self._stream.codec_context.height, self._stream.codec_context.width

    def frame_time(self, index: int) -> float | None:
        if self._times and index < len(self._times):
            return float((self._times[index] - self._times[0]) * self._time_base)
        return super().frame_time(index)

    def _index_of(self, frame: av.VideoFrame) -> int:
        if frame.pts is None:
            raise FrameError(f"{self.path}: decoded frame without timestamp")
        if self._times:
            k = bisect_left(self._times, frame.pts)
            if k < len(self._times) and self._times[k] == frame.pts:
                return k
            return len(self._times) if k >= len(self._times) else k  # not a packet's time: the next one's place
        seconds = (frame.pts - self._start) * self._time_base
        return int(round(float(seconds * self.fps)))

    def _seek(self, index: int) -> None:
        if self._times and index < len(self._times):
            target = self._times[index]
        else:
            target = self._start + int(Fraction(index, 1) / self.fps / self._time_base)
        self._container.seek(target, stream=self._stream, backward=True, any_frame=False)
        self._decoder = self._container.decode(self._stream)
        self._next_index = None

    def _read(self, index: int) -> np.ndarray:
        # Continue the open decoder when the target is a little ahead; otherwise seek.
        if self._decoder is None or self._next_index is None or not (self._next_index <= index < self._next_index + 16):
            self._seek(index)
        last = -1
        try:
            for frame in self._decoder:
                last = self._index_of(frame)
                self._next_index = last + 1
                if last == index:
                    return frame.to_ndarray(format="rgb24")
                if last > index:
                    break
        except av.FFmpegError as e:
            self._decoder = None
            raise FrameError(f"{self.path}: frame {index} could not be decoded ({e}); the file may be corrupt or truncated") from None
        self._decoder = None
        raise FrameError(f"{self.path}: frame {index} could not be decoded (last frame reached: {last}); "
                         f"the file may be truncated (header says {self._len} frames)")

    def close(self) -> None:
        self._container.close()


class FrameRange(FrameSource):
    """Frames ``start`` .. ``stop - 1`` of another source, renumbered from 0."""

    def __init__(self, source: FrameSource, start: int = 0, stop: int | None = None):
        super().__init__(cache_size=0)
        stop = len(source) if stop is None else min(stop, len(source))
        if not 0 <= start < stop:
            raise FrameError(f"{source.path}: frame range {start}:{stop} is empty (the source has {len(source)} frames)")
        self.source, self.start, self.stop, self.path = source, start, stop, source.path
        self.fps = source.fps

    def __len__(self) -> int:
        return self.stop - self.start

    def has(self, index: int) -> bool:
        return 0 <= index < len(self) and self.source.has(self.start + index)

    def size(self) -> tuple[int, int]:
        return self.source.size()

    def frame_name(self, index: int) -> str:
        return self.source.frame_name(self.start + index)

    def frame_time(self, index: int) -> float | None:
        time, first = self.source.frame_time(self.start + index), self.source.frame_time(self.start)
        return None if time is None or first is None else time - first

    def _read(self, index: int) -> np.ndarray:
        return self.source.read(self.start + index)


class ArrayFrames(FrameSource):
    """Frames held in memory: a (T, H, W, 3) uint8 RGB array or a list of (H, W, 3) uint8 RGB
    arrays of one size, as the Python API accepts them. ``path`` is a name for messages."""

    def __init__(self, frames: np.ndarray | list[np.ndarray], name: str = "frames"):
        super().__init__(cache_size=0)
        self.path = Path(name)
        shapes = {np.shape(f) for f in frames} if isinstance(frames, (list, tuple)) else None
        if isinstance(frames, np.ndarray):
            bad = frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8
            self._frames = list(frames)
            got = f"an array of shape {frames.shape} and dtype {frames.dtype}"
        else:
            bad = not frames or len(shapes) != 1 or any(not isinstance(f, np.ndarray) or f.dtype != np.uint8
                                                         or f.ndim != 3 or f.shape[-1] != 3 for f in frames)
            self._frames = list(frames)
            got = f"a list of {len(frames)} frames of shapes {sorted(shapes, key=str)[:3]}"
        if bad or not self._frames:
            raise FrameError(f"{name}: expected (T, H, W, 3) uint8 RGB frames (an array, or a list of (H, W, 3) "
                             f"uint8 arrays of one size, at least one), got {got}")

    def __len__(self) -> int:
        return len(self._frames)

    def _read(self, index: int) -> np.ndarray:
        return self._frames[index]


def open_frames(path: str | os.PathLike, cache_size: int = 32) -> FrameSource:
    """A frame folder or a video file, told apart by what ``path`` is."""
    path = Path(path)
    if path.is_dir():
        return ImageFolderFrames(path, cache_size)
    if path.suffix.lower() in VIDEO_EXTENSIONS:
        return VideoFileFrames(path, cache_size)
    if not path.exists():
        raise FrameError(f"{path}: no such frame folder or video file")
    raise FrameError(f"{path}: not a frame folder or a video file ({', '.join(VIDEO_EXTENSIONS)})")


#: the file types ``write_video`` writes (H.264 in these containers)
RENDER_EXTENSIONS = (".mp4", ".mov", ".mkv", ".m4v", ".avi")


def write_video(path: str | os.PathLike, frames: Iterable[np.ndarray], fps: float = 25,
                times: Iterable[float | None] | None = None) -> None:
    """Encode RGB uint8 frames as H.264 (yuv420p) with PyAV, one at a time as ``frames`` yields
    them (a generator keeps one frame in memory); sizes are padded to even numbers. ``times``:
    each frame's time in seconds (a variable frame rate), else frame i is at i / ``fps``. The file
    is written beside ``path`` and renamed at the end: never a half-written video."""
    path = Path(path)
    if path.suffix.lower() not in RENDER_EXTENSIONS:
        raise FrameError(f"{path}: cannot write a video of type {path.suffix or '(none)'!r}; use one of "
                         f"{', '.join(RENDER_EXTENSIONS)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}{path.suffix}")
    try:
        count = _encode(tmp, iter(frames), fps, iter(times) if times is not None else None)
        if not count:
            raise ValueError(f"{path}: no frames to write")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


#: libx264 settings of renders: ``veryfast`` rather than the default ``medium`` (a render is for looking
#: at, and encoding was the render's main cost), at x264's default constant quality (CRF 23)
RENDER_CODEC_OPTIONS = {"preset": "veryfast", "crf": "23"}


def _encode(path: Path, frames: Iterator[np.ndarray], fps: float, times: Iterator[float | None] | None) -> int:
    """Write ``frames`` to ``path``; returns how many. Encoding runs in a background thread, so
    the next frame is read and drawn while this one is encoded; the queue between them holds at
    most ``ENCODE_QUEUE`` frames."""
    first = next(frames, None)
    if first is None:
        return 0
    h, w = first.shape[:2]
    h2, w2 = h + h % 2, w + w % 2
    millis = Fraction(1, 1000)
    count, last_pts = 0, -1
    with av.open(str(path), mode="w") as container, _Encoder(container) as encoder:
        stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001),
                                      options=RENDER_CODEC_OPTIONS)
        stream.width, stream.height, stream.pix_fmt = w2, h2, "yuv420p"
        if times is not None:
            stream.codec_context.time_base = millis
        for image in itertools.chain([first], frames):
            if image.shape[:2] != (h, w):
                raise ValueError(f"{path}: frame size {image.shape[:2]} differs from the first frame's {(h, w)}")
            padded = np.zeros((h2, w2, 3), np.uint8)
            padded[:h, :w] = image
            frame = av.VideoFrame.from_ndarray(padded, format="rgb24")
            if times is not None:
                t = next(times, None)
                pts = int(round((count / fps if t is None else t) * 1000))
                last_pts = frame.pts = max(pts, last_pts + 1)
                frame.time_base = millis
            encoder.put(stream, frame)
            count += 1
        encoder.put(stream, None)  # flush
    return count


ENCODE_QUEUE = 4


class _Encoder:
    """A thread that encodes and muxes the frames put to it, in order; ``None`` flushes the
    stream. An error in the thread is raised again in the caller, at the next ``put`` or at exit."""

    def __init__(self, container) -> None:
        self.container = container
        self.queue: queue.Queue = queue.Queue(maxsize=ENCODE_QUEUE)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "_Encoder":
        self.thread.start()
        return self

    def _run(self) -> None:
        while True:
            item = self.queue.get()
            if item is _STOP:
                return
            if self.error is not None:
                continue  # drain: the caller raises it
            stream, frame = item
            try:
                for packet in stream.encode(frame):
                    self.container.mux(packet)
            except BaseException as err:  # raised again in the caller
                self.error = err

    def put(self, stream, frame) -> None:
        if self.error is not None:
            raise self.error
        self.queue.put((stream, frame))

    def __exit__(self, *exc) -> None:
        self.queue.put(_STOP)
        self.thread.join()
        if self.error is not None and exc[0] is None:
            raise self.error


_STOP = object()
