"""vidpose: human pose estimation in video that uses time.

Layers, each importing only from the ones before it: ``errors``, ``resources``, ``assets`` ->
``data`` -> ``models``, ``interchange``, ``synth`` -> ``engine``, ``tracking``, ``evaluation`` ->
``pipeline``, ``realdata``, ``bench`` -> ``cli``, ``commands``, ``demo``. docs/architecture.md is
the map, with every module.
"""

__version__ = "0.1.0"

__all__ = ["Pipeline"]


def __getattr__(name: str):
    """``vidpose.Pipeline`` (imported on first use: ``import vidpose`` stays light)."""
    if name == "Pipeline":
        from vidpose.pipeline import Pipeline

        return Pipeline
    raise AttributeError(f"module 'vidpose' has no attribute {name!r}")
