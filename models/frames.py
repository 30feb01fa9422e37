"""Checked conversions between the numpy arrays at the public boundary and model tensors.

Every check raises `ValueError` with the field name and the expected vs found dtype/shape/range,
never `assert` (which `python -O` drops).
"""
from __future__ import annotations

import numpy as np
import torch

IMAGE_SIZE = 256
#: Largest |coordinate| accepted for a keypoint (crop coordinates are in [-1, 1]; landmarks of a
#: face partly outside the crop may fall slightly outside).
KEYPOINT_LIMIT = 1.5
#: Tolerance around [0, 1] for a (dequantised) expression code; values are then clamped.
EXPR_TOLERANCE = 0.01


def image_to_tensor(image: object, name: str = "image", device: torch.device | str = "cpu") -> torch.Tensor:
    """`uint8 [256, 256, 3]` RGB -> `float32 [1, 3, 256, 256]` in [0, 1]."""
    if not isinstance(image, np.ndarray):
        raise ValueError(f"{name}: expected a numpy uint8 array [256, 256, 3], found {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ValueError(f"{name}: expected dtype uint8, found {image.dtype}")
    if image.shape != (IMAGE_SIZE, IMAGE_SIZE, 3):
        raise ValueError(f"{name}: expected shape (256, 256, 3), found {image.shape}")
    array = np.ascontiguousarray(image)
    if not array.flags.writeable:  # e.g. a decoded view: torch warns on read-only memory
        array = array.copy()
    t = torch.from_numpy(array).to(device)
    return t.permute(2, 0, 1).unsqueeze(0).float().div_(255.0)


def tensor_to_image(image: torch.Tensor) -> np.ndarray:
    """`[1, 3, H, W]` or `[3, H, W]` in [0, 1] -> `uint8 [H, W, 3]`."""
    t = image[0] if image.dim() == 4 else image
    return t.mul(255.0).round_().clamp_(0, 255).to(torch.uint8).permute(1, 2, 0).contiguous().cpu().numpy()


def points_to_tensor(points: object, n: int, name: str, device: torch.device | str = "cpu") -> torch.Tensor:
    """Keypoints `[n, 2]` float, finite, |x| <= KEYPOINT_LIMIT -> `float32 [1, n, 2]`."""
    arr = _float_array(points, name, (n, 2))
    bad = np.abs(arr) > KEYPOINT_LIMIT
    if bad.any():
        i = int(np.argwhere(bad)[0][0])
        raise ValueError(f"{name}: keypoint {i} = {arr[i].tolist()} is out of range "
                         f"(coordinates must be within [-{KEYPOINT_LIMIT}, {KEYPOINT_LIMIT}])")
    return torch.from_numpy(arr).to(device).unsqueeze(0)


def jacobians_to_tensor(jac: object, n: int, name: str = "jac", device: torch.device | str = "cpu") -> torch.Tensor:
    """Jacobians `[n, 2, 2]` float, finite, invertible -> `float32 [1, n, 2, 2]`."""
    arr = _float_array(jac, name, (n, 2, 2))
    det = np.linalg.det(arr.astype(np.float64))
    if (np.abs(det) < 1e-6).any():
        i = int(np.argmin(np.abs(det)))
        raise ValueError(f"{name}: Jacobian {i} is singular (determinant {det[i]:.3g})")
    return torch.from_numpy(arr).to(device).unsqueeze(0)


def expr_to_tensor(expr: object, m: int, name: str = "expr", device: torch.device | str = "cpu") -> torch.Tensor:
    """Expression code `[m]` in [0, 1] (+- EXPR_TOLERANCE, then clamped) -> `float32 [1, m]`."""
    arr = _float_array(expr, name, (m,))
    if (arr < -EXPR_TOLERANCE).any() or (arr > 1 + EXPR_TOLERANCE).any():
        raise ValueError(f"{name}: values must be in [0, 1], found min {arr.min():.3g} max {arr.max():.3g}")
    return torch.from_numpy(np.clip(arr, 0.0, 1.0)).to(device).unsqueeze(0)


def _float_array(value: object, name: str, shape: tuple[int, ...]) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if not isinstance(value, np.ndarray):
        raise ValueError(f"{name}: expected a numpy float array of shape {shape}, found {type(value).__name__}")
    if not np.issubdtype(value.dtype, np.floating):
        raise ValueError(f"{name}: expected a float dtype, found {value.dtype}")
    if value.shape != shape:
        raise ValueError(f"{name}: expected shape {shape}, found {value.shape}")
    arr = np.ascontiguousarray(value, dtype=np.float32)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name}: contains NaN or infinite values")
    return arr
