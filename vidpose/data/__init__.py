"""Data layer: keypoint schema, PoseTrack annotation I/O, frame sources, top-down clips, heatmap codec."""
