"""Image coding of source views: WebP and JPEG (OpenCV), AVIF (Pillow).

A view is an RGB uint8 array `[H, W, 3]`; its bytes are what a `.frontal` file and the live call's
view messages carry. A corrupt image raises `CodecError`.
"""
from __future__ import annotations

import io

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image

from codec.errors import CodecError

VIEW_FORMATS = ("webp", "jpeg", "avif")
VIEW_FORMAT = "webp"
VIEW_QUALITY = 80  # recorded files and the call alike; see `frontal bench-views`

RGBImage = npt.NDArray[np.uint8]


def encode_view(image: RGBImage, fmt: str = VIEW_FORMAT, quality: int = VIEW_QUALITY) -> bytes:
    """A source view compressed as `fmt` at `quality` (0-100)."""
    if fmt not in VIEW_FORMATS:
        raise CodecError(f"unknown view format {fmt!r} (one of {', '.join(VIEW_FORMATS)})")
    if fmt == "avif":
        buf = io.BytesIO()
        Image.fromarray(image).save(buf, format="AVIF", quality=quality)
        return buf.getvalue()
    flag = cv2.IMWRITE_WEBP_QUALITY if fmt == "webp" else cv2.IMWRITE_JPEG_QUALITY
    ok, data = cv2.imencode("." + fmt, np.ascontiguousarray(image[:, :, ::-1]), [flag, quality])
    if not ok:
        raise CodecError(f"could not compress a source view as {fmt}")
    return bytes(data.tobytes())


def decode_view(data: bytes, fmt: str = VIEW_FORMAT) -> RGBImage:
    """The RGB image of a view's bytes; `CodecError` if they are not a readable `fmt` image."""
    if fmt == "avif":
        try:
            with Image.open(io.BytesIO(data)) as im:
                return np.asarray(im.convert("RGB"))
        except Exception as exc:  # Pillow raises several types for a corrupt file
            raise CodecError(f"corrupt AVIF source view: {exc}") from None
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise CodecError(f"corrupt {fmt} source view")
    return np.ascontiguousarray(img[:, :, ::-1])
