"""The receiver's Renderer and the sender's DrivingExtractor, with untrained (seeded) models."""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import torch

from models import registry
from models.extractor import DrivingExtractor
from receiver.renderer import NoSourceError, Renderer

torch.set_num_threads(2)


def crop(rng: np.random.Generator) -> np.ndarray:
    return rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)


def pts(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.uniform(-0.7, 0.7, (n, 2)).astype(np.float32)


@pytest.fixture(scope="module")
def no_weights(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The registry as on a checkout without trained weights: seeded, untrained models."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(registry, "WEIGHTS_DIR", tmp_path_factory.mktemp("no-weights"))
        yield


@pytest.fixture(scope="module")
def renderer(no_weights: None) -> Renderer:
    return Renderer("frontalizer-mobile")


@pytest.fixture(scope="module")
def extractor(no_weights: None) -> DrivingExtractor:
    return DrivingExtractor("frontalizer-mobile")


@pytest.fixture
def record(extractor: DrivingExtractor) -> dict[str, np.ndarray | None]:
    rng = np.random.default_rng(1)
    code = extractor.extract(crop(rng))
    return {"sup": pts(rng, 33), "unsup": code.unsup, "expr": code.expr}


def test_untrained_model_renders_for_1_to_5_sources(renderer: Renderer, record: dict) -> None:
    rng = np.random.default_rng(0)
    renderer.reset()
    assert not renderer.trained
    for n in range(1, 6):
        assert renderer.add_source(crop(rng), pts(rng, 33)) == n
        assert renderer.num_sources == n
        frame = renderer.render(**record)
        assert frame.shape == (256, 256, 3) and frame.dtype == np.uint8


def test_source_added_mid_stream_changes_the_embedding(renderer: Renderer, record: dict) -> None:
    rng = np.random.default_rng(2)
    renderer.reset()
    renderer.add_source(crop(rng), pts(rng, 33))
    before = [renderer.render_output(**record).deformed.clone() for _ in range(2)]
    assert torch.equal(before[0], before[1])  # deterministic per frame
    renderer.add_source(crop(rng), pts(rng, 33))
    after = renderer.render_output(**record).deformed
    assert renderer.num_sources == 2 and not torch.equal(before[0], after)


def test_render_is_invariant_to_source_order(renderer: Renderer, record: dict) -> None:
    rng = np.random.default_rng(3)
    views = [(crop(rng), pts(rng, 33)) for _ in range(3)]
    frames = []
    for order in ([0, 1, 2], [2, 0, 1]):
        renderer.reset()
        for i in order:
            renderer.add_source(*views[i])
        frames.append(renderer.render_output(**record).image)
    torch.testing.assert_close(frames[0], frames[1], rtol=1e-4, atol=1e-4)


def test_empty_source_set(renderer: Renderer, record: dict) -> None:
    renderer.reset()
    with pytest.raises(NoSourceError, match="add_source"):
        renderer.render(**record)


@pytest.mark.parametrize("image,match", [
    (np.zeros((128, 128, 3), np.uint8), r"shape \(256, 256, 3\), found \(128, 128, 3\)"),
    (np.zeros((256, 256, 3), np.float32), "dtype uint8, found float32"),
    (np.zeros((256, 256), np.uint8), "found \\(256, 256\\)"),
    ([[0]], "numpy uint8 array"),
])
def test_bad_source_images(renderer: Renderer, image: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        renderer.add_source(image, np.zeros((33, 2), np.float32))  # type: ignore[arg-type]


def test_bad_keypoints_and_fields(renderer: Renderer, record: dict) -> None:
    rng = np.random.default_rng(4)
    renderer.reset()
    with pytest.raises(ValueError, match="source sup: required"):
        renderer.add_source(crop(rng), None)
    renderer.add_source(crop(rng), pts(rng, 33))
    nan = record["sup"].copy()
    nan[3, 0] = np.nan
    with pytest.raises(ValueError, match="sup: contains NaN"):
        renderer.render(**{**record, "sup": nan})
    far = record["unsup"].copy()
    far[2] = [0.0, 3.0]
    with pytest.raises(ValueError, match=r"unsup: keypoint 2 .* out of range"):
        renderer.render(**{**record, "unsup": far})
    with pytest.raises(ValueError, match=r"sup: expected shape \(33, 2\), found \(10, 2\)"):
        renderer.render(**{**record, "sup": record["unsup"]})
    with pytest.raises(ValueError, match="expr: required"):
        renderer.render(**{**record, "expr": None})
    with pytest.raises(ValueError, match=r"expr: values must be in \[0, 1\]"):
        renderer.render(**{**record, "expr": np.full(16, 2.0, np.float32)})
    # a field the model does not use is ignored, even if it is garbage
    assert renderer.render(**record, jac=np.zeros((10, 2, 2), np.float32)).shape == (256, 256, 3)
    with pytest.raises(ValueError, match="expected a float dtype"):
        renderer.render(**{**record, "sup": np.zeros((33, 2), np.int64)})


def test_extractor_outputs(extractor: DrivingExtractor) -> None:
    code = extractor.extract(crop(np.random.default_rng(5)))
    assert code.unsup.shape == (10, 2) and code.unsup.dtype == np.float32
    assert code.jac is None
    assert code.expr is not None and code.expr.shape == (16,) and ((code.expr >= 0) & (code.expr <= 1)).all()
    with pytest.raises(ValueError, match="driving image: expected dtype uint8"):
        extractor.extract(np.zeros((256, 256, 3), np.float64))  # type: ignore[arg-type]


def test_fom_uses_one_source_with_jacobians() -> None:
    rng = np.random.default_rng(6)
    r, ex = Renderer("fom-mobile"), DrivingExtractor("fom-mobile")
    r.add_source(crop(rng), pts(rng, 33))  # sup of a source: ignored by a model without landmarks
    with pytest.raises(ValueError, match="at most 1 source"):
        r.add_source(crop(rng))
    code = ex.extract(crop(rng))
    assert code.jac is not None and code.expr is None
    assert r.render(unsup=code.unsup, jac=code.jac).shape == (256, 256, 3)
    with pytest.raises(ValueError, match="singular"):
        r.render(unsup=code.unsup, jac=np.zeros((10, 2, 2), np.float32))
    frame = r.render(sup=pts(rng, 33), unsup=code.unsup, jac=code.jac)  # sup: ignored
    assert np.array_equal(frame, r.render(unsup=code.unsup, jac=code.jac))


@pytest.mark.parametrize("name", ["fom-mult-mobile", "maxpool-mobile"])
def test_multi_source_baselines_render(name: str) -> None:
    rng = np.random.default_rng(7)
    r, ex = Renderer(name), DrivingExtractor(name)
    for _ in range(3):
        r.add_source(crop(rng))
    code = ex.extract(crop(rng))
    assert r.render(unsup=code.unsup, jac=code.jac).shape == (256, 256, 3)


def test_none_means_the_default_model() -> None:
    r = Renderer(None)
    assert r.model_name == "frontalizer-mobile" and r.driving_fields.n_sup == 33
    assert DrivingExtractor(None).model_name == "frontalizer-mobile"
