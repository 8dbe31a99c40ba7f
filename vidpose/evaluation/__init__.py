"""Evaluation: PoseTrack multi-person pose AP and tracking MOTA with poseval's semantics."""

from vidpose.evaluation.posetrack import EvaluationMismatch, evaluate_posetrack, format_table

__all__ = ["EvaluationMismatch", "evaluate_posetrack", "format_table"]
