"""Frames as they arrive, for live use (``vidpose predict --causal``): a camera, a stream URL, or a
file read front to back, and the buffer of recent frames a causal window reads.

``open_stream`` takes a camera index (``"0"`` is ``/dev/video0`` through Video4Linux), a URL
(``rtsp://``, ``http://``, ... anything FFmpeg opens) or a video file, and yields RGB uint8
frames in order, decoding each once, never seeking: what a live source allows. A folder of
numbered frames is read in order too. ``FrameBuffer`` is a ``FrameSource`` over the frames seen so
far that keeps only the last ``keep``: reading an older one is an error, so a window that reached
back too far, or forward, fails loudly rather than silently.
"""

from __future__ import annotations

import os
import re
from collections import OrderedDict
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import av
import numpy as np

from vidpose.data.frames import FrameError, FrameSource, ImageFolderFrames

_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


class Stream:
    """An iterator of RGB frames from a camera, URL, file or frame folder, with its frame rate
    (None where the source does not say)."""

    def __init__(self, spec: str | os.PathLike):
        self.spec = str(spec)
        self.fps: Fraction | None = None
        self.path = Path(self.spec)
        self._folder: ImageFolderFrames | None = None
        self._container = None
        if self.spec.isdigit():
            self._open(f"/dev/video{int(self.spec)}", "v4l2", f"camera {self.spec}")
        elif _URL.match(self.spec):
            self._open(self.spec, None, self.spec)
        elif self.path.is_dir():
            self._folder = ImageFolderFrames(self.path)
        elif self.path.is_file():
            self._open(self.spec, None, self.spec)
        else:
            raise FrameError(f"{self.spec}: not a camera index, a stream URL, a video file or a frame folder")

    def _open(self, target: str, fmt: str | None, name: str) -> None:
        try:
            self._container = av.open(target, format=fmt, timeout=10.0)
        except (av.FFmpegError, OSError) as e:
            raise FrameError(f"{name}: cannot open ({e})") from None
        if not self._container.streams.video:
            raise FrameError(f"{name}: has no video stream")
        stream = self._container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate
        self.fps = Fraction(rate) if rate else None

    def __iter__(self) -> Iterator[np.ndarray]:
        if self._folder is not None:
            for i in range(len(self._folder)):
                yield self._folder.read(i)
            return
        try:
            for frame in self._container.decode(video=0):
                yield frame.to_ndarray(format="rgb24")
        except av.FFmpegError as e:
            raise FrameError(f"{self.spec}: the stream broke off ({e})") from None
        finally:
            self._container.close()


def open_stream(spec: str | os.PathLike) -> Stream:
    """A camera index, stream URL, video file or frame folder, read front to back."""
    return Stream(spec)


class FrameBuffer(FrameSource):
    """The frames of a stream seen so far (``append``); only the last ``keep`` are held."""

    def __init__(self, keep: int, name: str = "stream"):
        super().__init__(cache_size=0)
        if keep < 1:
            raise ValueError(f"keep must be at least 1, got {keep}")
        self.keep, self.path = keep, Path(name)
        self._frames: OrderedDict[int, np.ndarray] = OrderedDict()
        self._count = 0

    def append(self, frame: np.ndarray) -> int:
        """Add the next frame; returns its position."""
        self._frames[self._count] = frame
        self._count += 1
        while len(self._frames) > self.keep:
            self._frames.popitem(last=False)
        return self._count - 1

    def __len__(self) -> int:
        return self._count

    def _read(self, index: int) -> np.ndarray:
        if index not in self._frames:
            raise FrameError(f"{self.path}: frame {index} is no longer held (the buffer keeps the last {self.keep} of "
                             f"{self._count})")
        return self._frames[index]
