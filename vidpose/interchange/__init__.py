"""Readers that turn models published in other frameworks' formats into plain torch modules:
``tflite`` (TensorFlow Lite flatbuffers, e.g. BlazePose GHUM) and ``tfjs`` (TensorFlow.js graph
models, e.g. MoveNet). Import the submodule you need; this package imports nothing itself."""
