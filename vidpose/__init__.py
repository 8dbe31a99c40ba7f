"""vidpose: human pose estimation in video that uses time.

Layers, each importing only from the ones before it:
``data`` (schema, annotation I/O, frames, clips, heatmap codec) -> ``evaluation`` -> ``cli``.
See docs/architecture.md for the map.
"""

__version__ = "0.1.0"
