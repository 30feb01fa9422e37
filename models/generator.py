"""The full model: keypoint detector, expression head, encoder, source fusion, dense motion, decoder.

One `FrontalModel` built from one `ModelConfig`; the fusion mode selects the method:

- "frontalizer": the paper's model. Sources fused once into an embedding in the learned pose p_r;
  per frame: dense motion p_r -> driving, warp, decoder. With `FrontalizerConfig.compose_warps`
  (the registry's default) the warp samples each source once at the composed flow instead of
  resampling the embedding (`deform`).
- "single": First Order Model, one source (the first).
- "nearest": "FOM mult": per frame, the source whose keypoints are nearest the driving ones.
- "maxpool": per frame, every source warped to the driving pose, shared residual blocks, max over
  sources (Volokitin et al.).

Keypoints are concatenated as `[sup (n_sup), unsup (n_unsup)]` -> `[B, P, 2]`, P = n_sup + n_unsup.
The receiver splits the work in two: `prepare_sources` (once per source set, off the per-frame
path) and `render` (per driving record). `forward` chains both for training.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import NamedTuple

import torch
from torch import nn

from models.aggregation import MaxPoolAggregator, MaxPoolConfig
from models.decoder import Decoder, DecoderConfig
from models.dense_motion import DenseMotion, DenseMotionConfig
from models.encoder import Encoder, EncoderConfig
from models.expression import ExpressionConfig, ExpressionHead
from models.frontalizer import Frontalizer, FrontalizerConfig, FrontalizerOutput
from models.geometry import compose_flows, resize_flow, warp
from models.keypoints import KeypointDetector, KeypointDetectorConfig

FUSIONS = ("frontalizer", "single", "nearest", "maxpool")


@dataclass(frozen=True)
class DrivingFields:
    """What one driving record carries for this model; the codec transmits exactly these.

    `n_sup` supervised landmarks `[n_sup, 2]`, `n_unsup` detector keypoints `[n_unsup, 2]`,
    Jacobians `[n_unsup, 2, 2]` when `jacobians`, an expression code `[n_expr]` in [0, 1].
    """

    n_sup: int = 33
    n_unsup: int = 10
    jacobians: bool = False
    n_expr: int = 16

    @property
    def num_kp(self) -> int:
        return self.n_sup + self.n_unsup


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to build a `FrontalModel`; serialised as JSON in checkpoints."""

    form: str  # "mobile" | "dense"
    fusion: str  # one of FUSIONS
    driving_fields: DrivingFields
    keypoint: KeypointDetectorConfig
    encoder: EncoderConfig
    dense_motion: DenseMotionConfig
    decoder: DecoderConfig
    expression: ExpressionConfig | None = None
    frontalizer: FrontalizerConfig | None = None
    aggregator: MaxPoolConfig | None = None
    max_sources: int | None = None  # None: unbounded
    image_size: int = 256
    notes: str = field(default="", compare=False)
    #: render option (no parameters; left out of config equality like `FrontalizerConfig.compose_warps`):
    #: where the occlusion map says the warp is valid, show the source views' own pixels, sampled at
    #: full resolution by the same flows (and fusion weights) that warp their features, instead of
    #: the decoder's output (`FrontalModel.pixels`). For single / nearest fusions and composing
    #: Frontalizers (`validate_config`)
    pixel_path: bool = field(default=False, compare=False)


class SourceSet(NamedTuple):
    """Per-source tensors. `features [B, N, C, H, W]`, `kp [B, N, P, 2]`, `jac [B, N, K, 2, 2] | None`,
    `images [B, N, 3, 256, 256] | None` (the views themselves, for `ModelConfig.pixel_path`)."""

    features: torch.Tensor
    kp: torch.Tensor
    jac: torch.Tensor | None
    images: torch.Tensor | None = None


class Prepared(NamedTuple):
    """What the per-frame path needs. Frontalizer: `embedding [B, C, H, W]` in pose `kp [B, P, 2]`
    (p_r); other fusions keep the `sources` (a `SourceSet`) and `embedding` is None."""

    embedding: torch.Tensor | None
    kp: torch.Tensor | None
    sources: SourceSet
    fusion: FrontalizerOutput | None


class RenderOutput(NamedTuple):
    """`image [B, 3, 256, 256]` in (0, 1); `flow [B, S, S, 2]`; `occlusion [B, 1, S, S]` in (0, 1);
    `deformed [B, C, H, W]` (the decoder input); `source_index [B] | None` ("nearest" only).
    For "maxpool" flow and occlusion are those of source 0."""

    image: torch.Tensor
    flow: torch.Tensor
    occlusion: torch.Tensor
    deformed: torch.Tensor
    source_index: torch.Tensor | None


class GeneratorOutput(NamedTuple):
    """Training output: the rendered frame plus the intermediate maps a trainer may supervise."""

    image: torch.Tensor
    render: RenderOutput
    prepared: Prepared


class FrontalModel(nn.Module):
    """All networks of one method. See the module docstring for the data flow."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        validate_config(cfg)
        self.cfg = cfg
        self.keypoint_detector = KeypointDetector(cfg.keypoint)
        self.expression = ExpressionHead(cfg.expression) if cfg.expression else None
        self.encoder = Encoder(cfg.encoder)
        self.frontalizer = Frontalizer(cfg.frontalizer) if cfg.frontalizer else None
        self.dense_motion = DenseMotion(cfg.dense_motion)
        self.aggregator = MaxPoolAggregator(cfg.aggregator) if cfg.aggregator else None
        self.decoder = Decoder(cfg.decoder)
        #: layout of the decoder input; `optimize.prepare_for_inference` sets channels-last
        self.memory_format = torch.contiguous_format

    @property
    def driving_fields(self) -> DrivingFields:
        return self.cfg.driving_fields

    # -- sender side / source side -------------------------------------------------------------
    def extract(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """Driving-side networks. `image [B, 3, 256, 256]` in [0, 1] -> (unsup `[B, K, 2]`,
        jac `[B, K, 2, 2] | None`, expr `[B, M] | None`), each None when the model does not use it."""
        out = self.keypoint_detector(image)
        expr = self.expression(out.centre) if self.expression is not None else None
        return out.kp, (out.jacobian if self.cfg.driving_fields.jacobians else None), expr

    def join_keypoints(self, sup: torch.Tensor | None, unsup: torch.Tensor | None) -> torch.Tensor:
        """Concatenate `[..., n_sup, 2]` and `[..., n_unsup, 2]` -> `[..., P, 2]` (either may be unused)."""
        f = self.cfg.driving_fields
        parts = [t for t, n in ((sup, f.n_sup), (unsup, f.n_unsup)) if n]
        if any(t is None for t in parts):
            raise ValueError(f"this model needs {f.n_sup} sup and {f.n_unsup} unsup keypoints")
        return torch.cat(parts, dim=-2) if len(parts) > 1 else parts[0]

    def encode_sources(self, images: torch.Tensor, sup: torch.Tensor | None = None) -> SourceSet:
        """`images [B, N, 3, 256, 256]` in [0, 1], `sup [B, N, n_sup, 2] | None` -> `SourceSet`."""
        b, n = images.shape[:2]
        flat = images.flatten(0, 1)
        features = self.encoder(flat)
        det = self.keypoint_detector(flat)
        unsup = det.kp.view(b, n, -1, 2)
        kp = self.join_keypoints(sup, unsup)
        jac = det.jacobian.view(b, n, -1, 2, 2) if self.cfg.driving_fields.jacobians else None
        return SourceSet(features.view(b, n, *features.shape[1:]), kp, jac, images)

    def prepare_sources(self, sources: SourceSet) -> Prepared:
        """Once per source set. Frontalizer: fuse into the p_r embedding; "single": keep source 0."""
        if self.frontalizer is not None:
            fused = self.frontalizer(sources.features, sources.kp)
            kp = self.frontalizer.reference.unsqueeze(0).expand(sources.kp.shape[0], -1, -1)
            return Prepared(fused.embedding, kp, sources, fused)
        if self.cfg.fusion == "single":
            first = SourceSet(*(None if t is None else t[:, :1] for t in sources))
            return Prepared(None, None, first, None)
        return Prepared(None, None, sources, None)

    # -- per frame ------------------------------------------------------------------------------
    def render(self, prepared: Prepared, kp: torch.Tensor, jac: torch.Tensor | None = None,
               expr: torch.Tensor | None = None) -> RenderOutput:
        """One frame per driving record. `kp [B, P, 2]`, `jac [B, K, 2, 2] | None`, `expr [B, M] | None`."""
        jac_to = self._full_jacobian(jac)
        if prepared.embedding is not None:  # frontalizer: p_r -> driving
            motion = self.dense_motion(prepared.kp, kp)
            deformed = self.deform(prepared, motion, kp)
            image = self._with_pixels(self.decoder(deformed, expr), prepared, motion, kp)
            return RenderOutput(image, motion.flow, torch.sigmoid(motion.confidence), deformed, None)
        src = prepared.sources
        if self.cfg.fusion in ("single", "nearest"):
            idx = self._nearest(src.kp, kp)
            ar = torch.arange(kp.shape[0], device=kp.device)
            feat, skp = src.features[ar, idx], src.kp[ar, idx]
            sjac = self._full_jacobian(src.jac[ar, idx]) if src.jac is not None else None
            motion = self.dense_motion(skp, kp, sjac, jac_to)
            out = self._decode(feat, motion, expr, idx if self.cfg.fusion == "nearest" else None)
            if self.cfg.pixel_path:
                one = SourceSet(*(None if t is None else t[ar, idx][:, None] for t in src))  # the chosen view
                chosen = prepared._replace(sources=one)
                out = out._replace(image=self._with_pixels(out.image, chosen, motion, kp))
            return out
        # maxpool: every source to the driving pose, then max over sources
        b, n = src.kp.shape[:2]
        rep = lambda t: t.unsqueeze(1).expand(b, n, *t.shape[1:]).flatten(0, 1)  # noqa: E731
        sjac = self._full_jacobian(src.jac.flatten(0, 1)) if src.jac is not None else None
        motion = self.dense_motion(src.kp.flatten(0, 1), rep(kp), sjac,
                                   rep(jac_to) if jac_to is not None else None)
        warped = warp(src.features.flatten(0, 1), motion.flow) * self._occlusion(motion, src.features.shape[-1])
        if self.aggregator is None:
            raise RuntimeError("maxpool fusion needs an aggregator (config.aggregator)")
        warped = warped.contiguous(memory_format=self.memory_format)
        fused = self.aggregator(warped.unflatten(0, (b, n)))
        image = self.decoder(fused, expr)
        first = lambda t: t.view(b, n, *t.shape[1:])[:, 0]  # noqa: E731
        return RenderOutput(image, first(motion.flow), first(torch.sigmoid(motion.confidence)), fused, None)

    def forward(self, sources: torch.Tensor, source_sup: torch.Tensor | None,
                driving_kp: torch.Tensor, driving_jac: torch.Tensor | None = None,
                expr: torch.Tensor | None = None) -> GeneratorOutput:
        """Training path. `sources [B, N, 3, 256, 256]`, `source_sup [B, N, n_sup, 2] | None`,
        `driving_kp [B, P, 2]` (sup + unsup), `driving_jac [B, K, 2, 2] | None`, `expr [B, M] | None`."""
        prepared = self.prepare_sources(self.encode_sources(sources, source_sup))
        out = self.render(prepared, driving_kp, driving_jac, expr)
        return GeneratorOutput(out.image, out, prepared)

    # -- helpers --------------------------------------------------------------------------------
    def _full_jacobian(self, jac: torch.Tensor | None) -> torch.Tensor | None:
        """Pad `[B, K, 2, 2]` unsup Jacobians with identities for the sup points -> `[B, P, 2, 2]`."""
        f = self.cfg.driving_fields
        if jac is None or not f.jacobians:
            return None
        if not f.n_sup:
            return jac
        eye = torch.eye(2, dtype=jac.dtype, device=jac.device).expand(jac.shape[0], f.n_sup, 2, 2)
        return torch.cat([eye, jac], dim=1)

    def _nearest(self, source_kp: torch.Tensor, kp: torch.Tensor) -> torch.Tensor:
        """Index `[B]` of the source to use: 0 for "single", the nearest keypoints for "nearest"."""
        if self.cfg.fusion == "single" or source_kp.shape[1] == 1:
            return torch.zeros(kp.shape[0], dtype=torch.long, device=kp.device)
        dist = (source_kp - kp.unsqueeze(1)).norm(dim=-1).mean(dim=-1)  # [B, N]
        return dist.argmin(dim=1)

    @staticmethod
    def _occlusion(motion: tuple, size: int) -> torch.Tensor:
        occ = torch.sigmoid(motion.confidence)
        if occ.shape[-1] != size:
            occ = nn.functional.interpolate(occ, size=(size, size), mode="bilinear", align_corners=False)
        return occ

    def deform(self, prepared: Prepared, motion: tuple, kp: torch.Tensor | None = None) -> torch.Tensor:
        """Frontalizer: the decoder input `[B, C, H, W]` for one frame's motion (p_r -> driving).

        Paper form: the fused embedding warped by the frame's flow, times the occlusion. With
        `compose_warps`: each source sampled once, at its flow (p_r -> source i) composed with the
        frame's flow (driving -> p_r), summed with the fusion weights sampled at the same points,
        times the occlusion: the same sum with one bilinear resampling of the features, not two.
        With `view_temperature` and the frame's keypoints `kp [B, P, 2]`, the fusion weights also
        favour the sources posed like the frame (`_view_prior`)."""
        h, w = prepared.embedding.shape[-2:]
        occ = self._occlusion(motion, w)
        if self.frontalizer is None or not self.frontalizer.cfg.compose_warps:
            deformed = warp(prepared.embedding, motion.flow) * occ
            return deformed.contiguous(memory_format=self.memory_format)
        fused, feats = prepared.fusion, prepared.sources.features  # feats [B, N, C, H, W]
        if fused is None:
            raise ValueError("compose_warps: the prepared sources carry no fusion (flows, weights)")
        fused_sum = self._composed(feats, fused, motion.flow, prepared.sources.kp, kp)
        return (fused_sum * occ).contiguous(memory_format=self.memory_format)

    def _composed(self, maps: torch.Tensor, fused: FrontalizerOutput, flow: torch.Tensor,
                  source_kp: torch.Tensor, kp: torch.Tensor | None) -> torch.Tensor:
        """Per-source `maps [B, N, C, H, W]` (features, or the source images) each sampled once at its
        flow to p_r composed with the frame's `flow` (driving -> p_r), summed with the fusion weights
        sampled at the same points (times the view prior) -> `[B, C, H, W]`."""
        b, n, c, h, w = maps.shape
        outer = resize_flow(flow, (h, w))  # driving pixel -> p_r
        outer = outer.unsqueeze(1).expand(b, n, h, w, 2).flatten(0, 1)
        flows = compose_flows(outer, fused.flows.flatten(0, 1))  # driving pixel -> source i
        weights = nn.functional.grid_sample(fused.weights.flatten(0, 1), outer, mode="bilinear",
                                            padding_mode="border", align_corners=False).view(b, n, 1, h, w)
        warped = warp(maps.flatten(0, 1), flows).view(b, n, c, h, w)
        if self.frontalizer.cfg.view_temperature > 0 and kp is not None and n > 1:
            weights = weights * self._view_prior(source_kp, kp)[:, :, None, None, None]
            weights = weights / weights.sum(dim=1, keepdim=True).clamp_min(1e-8)
        return (weights * warped).sum(dim=1)

    def pixels(self, prepared: Prepared, flow: torch.Tensor, kp: torch.Tensor | None = None) -> torch.Tensor:
        """The source views' own pixels moved to the frame's pose by the frame's `flow`, at full
        resolution -> `[B, 3, 256, 256]`: Frontalizer (composed warps): each view sampled once at its
        composed flow and summed with the fusion weights; single / nearest: the (one) prepared view."""
        images = prepared.sources.images
        if images is None:
            raise ValueError("pixel_path: the prepared sources carry no images")
        if prepared.fusion is not None:
            return self._composed(images, prepared.fusion, flow, prepared.sources.kp, kp)
        return warp(images[:, 0], resize_flow(flow, images.shape[-2:]))

    def _with_pixels(self, image: torch.Tensor, prepared: Prepared, motion: tuple,
                     kp: torch.Tensor | None) -> torch.Tensor:
        """`pixel_path`: occlusion * pixels + (1 - occlusion) * the decoder's `image`."""
        if not self.cfg.pixel_path:
            return image
        occ = self._occlusion(motion, image.shape[-1])
        return occ * self.pixels(prepared, motion.flow, kp) + (1 - occ) * image

    def _view_prior(self, source_kp: torch.Tensor, kp: torch.Tensor) -> torch.Tensor:
        """Per-frame view selection: `source_kp [B, N, P, 2]`, `kp [B, P, 2]` -> `[B, N]` in (0, 1], 1 for
        the source whose centred supervised landmarks (all keypoints for a model without them) are
        nearest the frame's (`view_temperature`)."""
        ns = self.frontalizer.cfg.n_sup or kp.shape[-2]  # no supervised landmarks: all keypoints
        src, drv = source_kp[..., :ns, :], kp[..., :ns, :]
        src = src - src.mean(dim=-2, keepdim=True)
        drv = drv - drv.mean(dim=-2, keepdim=True)
        d = (src - drv.unsqueeze(1)).norm(dim=-1).mean(dim=-1)
        d = d - d.min(dim=1, keepdim=True).values
        return torch.exp(-d / self.frontalizer.cfg.view_temperature)

    def _decode(self, features: torch.Tensor, motion: tuple, expr: torch.Tensor | None,
                idx: torch.Tensor | None) -> RenderOutput:
        occ = self._occlusion(motion, features.shape[-1])
        deformed = (warp(features, motion.flow) * occ).contiguous(memory_format=self.memory_format)
        image = self.decoder(deformed, expr)
        return RenderOutput(image, motion.flow, torch.sigmoid(motion.confidence), deformed, idx)


def with_render_options(cfg: ModelConfig, *, pixel_path: bool | None = None, compose_warps: bool | None = None,
                        view_temperature: float | None = None) -> ModelConfig:
    """`cfg` with the render options given (None: keep the stored one), checked by `validate_config`.
    `ValueError` for a Frontalizer option on a model without one, or a rejected config."""
    fr = cfg.frontalizer
    if fr is None and (compose_warps is not None or view_temperature is not None):
        raise ValueError(f"the {cfg.fusion} model has no Frontalizer (compose_warps, view_temperature)")
    if fr is not None:
        fr = replace(fr, compose_warps=fr.compose_warps if compose_warps is None else compose_warps,
                     view_temperature=fr.view_temperature if view_temperature is None else view_temperature)
    cfg = replace(cfg, frontalizer=fr, pixel_path=cfg.pixel_path if pixel_path is None else pixel_path)
    validate_config(cfg)
    return cfg


def validate_config(cfg: ModelConfig) -> None:
    """Raise `ValueError` naming the first inconsistent field of a `ModelConfig`."""
    f = cfg.driving_fields
    if cfg.fusion not in FUSIONS:
        raise ValueError(f"fusion: expected one of {FUSIONS}, found {cfg.fusion!r}")
    checks = [
        ("keypoint.num_kp", cfg.keypoint.num_kp, f.n_unsup if f.n_unsup else cfg.keypoint.num_kp),
        ("keypoint.jacobians", cfg.keypoint.jacobians, f.jacobians or cfg.keypoint.jacobians),
        ("dense_motion.num_kp", cfg.dense_motion.num_kp, f.num_kp),
        ("decoder.num_expr", cfg.decoder.num_expr, f.n_expr),
        ("decoder.in_channels", cfg.decoder.in_channels, cfg.encoder.out_channels),
        ("decoder.in_size", cfg.decoder.in_size, cfg.encoder.out_size),
        ("expression", cfg.expression is not None, f.n_expr > 0),
        ("frontalizer", cfg.frontalizer is not None, cfg.fusion == "frontalizer"),
        ("aggregator", cfg.aggregator is not None, cfg.fusion == "maxpool"),
    ]
    if cfg.expression is not None:
        checks += [("expression.num_expr", cfg.expression.num_expr, f.n_expr),
                   ("expression.in_features", cfg.expression.in_features, cfg.keypoint.centre_features)]
    if cfg.frontalizer is not None:
        checks += [("frontalizer.n_sup", cfg.frontalizer.n_sup, f.n_sup),
                   ("frontalizer.n_unsup", cfg.frontalizer.n_unsup, f.n_unsup)]
    if cfg.pixel_path and cfg.fusion == "maxpool":
        checks.append(("pixel_path", True, False))  # max-pooled features have no one flow per view
    if cfg.pixel_path and cfg.frontalizer is not None and not cfg.frontalizer.compose_warps:
        checks.append(("pixel_path", True, False))  # needs each view's flow to the frame: composed warps
    if cfg.frontalizer is not None and cfg.frontalizer.view_temperature:
        t = cfg.frontalizer.view_temperature
        if t < 0:
            checks.append(("frontalizer.view_temperature", t, ">= 0"))
        elif not cfg.frontalizer.compose_warps:
            checks.append(("frontalizer.compose_warps", False, True))  # view selection weights composed warps
    if f.jacobians and not f.n_unsup:
        checks.append(("driving_fields.jacobians", True, False))
    if f.n_unsup == 0 and f.n_expr > 0:
        checks.append(("driving_fields.n_expr", f.n_expr, 0))  # the expression head needs the detector
    for name, found, expected in checks:
        if found != expected:
            raise ValueError(f"ModelConfig.{name}: expected {expected!r}, found {found!r}")
