"""The sender's input stage: video in, tracked face out.

- `sender.video`: frames from a file (PyAV) or a camera (OpenCV), resampled; `VideoError`.
- `sender.landmarks`: the 33 supervised FaceMesh landmarks (`SUP33_INDICES`, `SUP33_NAMES`).
- `sender.pose`: head pose (yaw, pitch, roll) from 3-D landmarks, fitted to a frontal template.
- `sender.tracker`: `FaceTracker` -> `TrackedFrame` (256x256 face crop, landmarks, pose, box).
- `frontal.prepare`: `frontal prepare`, which caches tracked clips as .npz for training.
- `sender.bench`: tracking speed in ms/frame.

Modules are imported on demand (`from sender.tracker import FaceTracker`): importing `sender`
alone loads nothing heavy.
"""
