"""The 33 supervised landmarks ("Sup" set): a fixed subset of MediaPipe FaceMesh's 478 points.

Indices are FaceMesh mesh indices (0..467 are the face mesh; 468..477, the refined iris points,
are not used). Sides are the SUBJECT's: `eye_r_outer` is the subject's right eye, which appears on
the left of a (non-mirrored) camera image. The table with each point's role is in
`docs/landmarks.md`; a test checks the two stay in step.
"""
from __future__ import annotations

NUM_MESH_LANDMARKS = 478  # 468 mesh points + 10 iris points (refine_landmarks=True)
NUM_MESH_POINTS = 468  # without the iris points

# (group, name, FaceMesh index), in the order of the Sup set.
SUP33: tuple[tuple[str, str, int], ...] = (
    # face contour: chin, chin sides, jaw angles, cheeks at eye level, temples
    ("contour", "chin", 152),
    ("contour", "chin_r", 148),
    ("contour", "chin_l", 377),
    ("contour", "jaw_r", 172),
    ("contour", "jaw_l", 397),
    ("contour", "cheek_r", 234),
    ("contour", "cheek_l", 454),
    ("contour", "temple_r", 162),
    ("contour", "temple_l", 389),
    # brows: outer end, middle (arch), inner end
    ("brows", "brow_r_outer", 70),
    ("brows", "brow_r_mid", 105),
    ("brows", "brow_r_inner", 107),
    ("brows", "brow_l_inner", 336),
    ("brows", "brow_l_mid", 334),
    ("brows", "brow_l_outer", 300),
    # eyes: corners and the middle of the upper and lower lids
    ("eyes", "eye_r_outer", 33),
    ("eyes", "eye_r_upper", 159),
    ("eyes", "eye_r_inner", 133),
    ("eyes", "eye_r_lower", 145),
    ("eyes", "eye_l_inner", 362),
    ("eyes", "eye_l_upper", 386),
    ("eyes", "eye_l_outer", 263),
    ("eyes", "eye_l_lower", 374),
    # nose: bridge between the eyes, tip, alae
    ("nose", "nose_bridge", 168),
    ("nose", "nose_tip", 1),
    ("nose", "nose_ala_r", 98),
    ("nose", "nose_ala_l", 327),
    # lips: corners, outer upper and lower midpoints, inner upper and lower midpoints
    ("lips", "mouth_r", 61),
    ("lips", "mouth_l", 291),
    ("lips", "lip_upper_outer", 0),
    ("lips", "lip_lower_outer", 17),
    ("lips", "lip_upper_inner", 13),
    ("lips", "lip_lower_inner", 14),
)

SUP33_INDICES: tuple[int, ...] = tuple(index for _, _, index in SUP33)
SUP33_NAMES: tuple[str, ...] = tuple(name for _, name, _ in SUP33)
SUP33_GROUPS: tuple[str, ...] = tuple(group for group, _, _ in SUP33)

# Landmarks that move little with expression (forehead, nose, eye corners, temples, cheeks):
# used to fit the head pose and the crop box, so talking and blinking do not move either.
RIGID_INDICES: tuple[int, ...] = (
    10, 151, 9, 8, 168, 6, 197, 195, 5, 4, 1, 2, 98, 327,
    33, 133, 263, 362, 130, 359, 243, 463,
    127, 356, 162, 389, 234, 454, 21, 251, 54, 284, 103, 332, 67, 297, 109, 338,
)
