"""The `codec-loopback` report, as typed records: what report.json (and `--json`) holds.

    LoopbackReport      the whole document: headline numbers, `summary` per frame rate and mode,
                        `clips`, and with a comparison `comparison` (a `Summary`) and `report`
    ClipResult          one clip: tracking, `coding` per frame rate and mode, `render` or `comparison`
    ClipComparison      one clip through both paths: `frontal` (FrontalClip) and `classical`
    Summary             frame-weighted means over clips: `frontal` and one row per codec setting

Written by `frontal.jsonio.write_json`; a field made with `optional()` is a key only some runs
have. Quality scores stay mappings (`Scores`): which keys there are depends on the metrics run.
"""
from __future__ import annotations

from dataclasses import KW_ONLY, dataclass, field
from typing import Any

from frontal.jsonio import NOT_WRITTEN, OPTIONAL, optional
from frontal.report.frontal_side import FrontalRate
from frontal.views_live import ViewScheduleReport

Scores = dict[str, float | int | None]  # `Scorer.score`: metric summary key -> value (None: not measured)
MeanScores = dict[str, float | None]  # `summary.mean_scores`: score key -> frame-weighted mean


@dataclass
class CodingStats:
    """One clip coded at one frame rate in one mode (in `summary`: frame-weighted over clips)."""

    mode: str | None = field(metadata=OPTIONAL)  # None in the summary (the mode is its key)
    fps: float
    frames: int
    intra_frames: int
    bits_per_frame: float  # whole packets: payload + header
    payload_bits_per_frame: float
    payload_bits_p95: float
    bits_p95: float
    header_bits_per_frame: float
    group_bits_per_frame: dict[str, float]
    termination_bits_per_frame: float  # payload bytes minus the symbols' information content
    kbps: float
    payload_kbps: float
    encode_ms_per_frame: float
    decode_ms_per_frame: float
    codec_ms_per_frame: float
    landmark_error_px_mean: float
    landmark_error_px_p95: float
    landmark_error_px_max: float
    bits: list[int] = field(default_factory=list, repr=False, metadata=NOT_WRITTEN)  # per frame


@dataclass(frozen=True)
class LossResult:
    """One packet-loss rate: Frontal's on a clip (`rerendered`), a codec's, or their means (`frames`)."""

    loss: float
    lost: int
    frozen: int
    _: KW_ONLY
    rerendered: int | None = optional()  # Frontal: poses decoded differently, rendered anew
    frames: int | None = optional()  # summary: frames over all clips
    quality: Scores | MeanScores


@dataclass(frozen=True)
class FrontalFloor:
    """Frontal's lowest rate (the lower mode's); `fps` and `renders_real_time` per clip only."""

    _: KW_ONLY
    fps: float | None = optional()
    kbps_call: float
    kbps_clip: float
    packet_kbps: float
    header_kbps: float
    renders_real_time: bool | None = optional()


@dataclass(frozen=True)
class FrontalClip:
    """Frontal on one clip: views, bits per mode (`frontal_side.FrontalRate`), render, quality, loss."""

    model: str
    trained: bool
    fields: str
    view_choice: str
    views: list[int]
    view_format: str
    view_schedule: ViewScheduleReport
    first_view_frame: int | None
    frames_after_first_view: int
    rates: dict[str, FrontalRate]
    primary_mode: str
    render_ms_mean: float | None
    render_ms_median: float | None
    render_fps: float | None
    render_fps_mean: float | None
    floor: FrontalFloor
    quality: Scores
    quality_after_first_view: Scores | None
    loss: list[LossResult]
    renderer: dict[str, Any] | None = optional()  # the geometry renderer's own description (`MeshFrameRenderer.describe`)


@dataclass(frozen=True)
class ClassicalPoint:
    """One distinct encode of a codec setting on a clip, scored."""

    kbps_target: float | None  # None: the maximum quantizer
    kbps_actual: float
    bits_total: int
    keyframe_bits: int
    reached_by: str
    floor: bool = False
    matched: bool = False
    quality: Scores = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class MatchedPoint(ClassicalPoint):
    """The encode matched to Frontal's bitrate (the floor where that is above it), with its loss runs."""

    goal_kbps: float
    reachable: bool
    decode_ms_per_frame: float
    decode_fps: float | None
    loss: list[LossResult]


@dataclass(frozen=True)
class SettingResult:
    """One codec at one keyframe setting on one clip."""

    codec: str
    keyint: str
    floor: ClassicalPoint
    matched: MatchedPoint
    points: list[ClassicalPoint]  # every distinct encode, by actual rate


@dataclass(frozen=True)
class ClipComparison:
    """One clip through both paths, against its own face tube."""

    frames: int
    fps: float
    seconds: float
    call_seconds: float
    goal_kbps: float  # Frontal's primary mode, views amortised over the call
    goal: str
    frontal: FrontalClip
    classical: list[SettingResult]
    side_by_side: str
    side_by_side_tiles: list[str]


@dataclass(frozen=True)
class RateSummary:
    packet_kbps: float
    kbps_clip: float
    kbps_call: float
    bits_per_frame: float


@dataclass(frozen=True)
class FrontalSummary:
    clips: int
    frames: int
    view_choice: str  # "live", "oracle" or both joined by "+"
    views_mean: float
    view_format: str
    view_kbps: float | None
    view_burst_bytes: int | None
    frames_after_first_view: int
    clips_without_view: int
    model: str
    trained: bool
    fields: str
    primary_mode: str
    rates: dict[str, RateSummary]
    view_bytes_mean: float
    render_ms_median: float | None  # None: no clip had a view to render from
    quality: MeanScores
    quality_after_first_view: MeanScores
    loss: list[LossResult]
    render_fps: float | None
    floor: FrontalFloor


@dataclass(frozen=True)
class RDPoint:
    target: str  # the requested kbps, or "maxq"
    kbps_actual: float
    quality: MeanScores


@dataclass(frozen=True)
class ClassicalSummary:
    codec: str
    keyint: str
    clips: int
    floor_kbps: float
    floor_kbps_max: float
    floor_quality: MeanScores
    matched_kbps: float
    matched_goal_kbps: float
    matched_reachable: int  # clips where the goal was reachable
    matched_quality: MeanScores
    decode_fps: float
    loss: list[LossResult]
    rd: list[RDPoint]  # targets every clip has, by actual rate


@dataclass(frozen=True)
class Summary:
    frontal: FrontalSummary
    classical: list[ClassicalSummary]
    goal_kbps: float
    seconds: float
    call_seconds: float


@dataclass(frozen=True)
class RenderResult:
    """`--render` (or a comparison): the decoded stream rendered from the clip's source views."""

    model: str
    trained: bool
    view_choice: str
    views: list[int]
    first_view_frame: int | None
    render_ms_per_frame: float | None  # None: nothing rendered (no view arrived)
    render_fps: float | None
    psnr: float | None
    ssim: float | None
    side_by_side: str


@dataclass(frozen=True)
class ClipResult:
    clip: str
    source_fps: float
    frames_tracked: int
    face_rate: float
    tracking_ms_per_frame: float
    tracking_ms_p95: float
    coding: dict[str, dict[str, CodingStats]]  # "15fps"/"30fps" -> mode -> stats
    extractor_ms_per_frame: dict[str, float] | None = optional()  # models with their own fields
    comparison: ClipComparison | None = optional()
    render: RenderResult | None = optional()


@dataclass(frozen=True)
class FailedClip:
    clip: str
    error: str


@dataclass(frozen=True)
class ReportFiles:
    plots: dict[str, str]  # name -> file name
    html: str


@dataclass
class LoopbackReport:
    """The document; `report` is set when the report folder is written."""

    fields: str
    mode: str
    frames: int
    bits_per_frame: float
    payload_bits_per_frame: float
    kbps_15fps: float
    kbps_30fps: float | None
    tracking_ms_per_frame: float
    codec_ms_per_frame: float
    landmark_error_px: float
    tables: str
    hysteresis: float
    smoothing: bool
    summary: dict[str, dict[str, CodingStats]]  # "15fps"/"30fps" -> mode -> frame-weighted stats
    clips: list[ClipResult]
    failed: list[FailedClip]
    comparison: Summary | None = optional()
    command: str | None = optional()
    load: list[float] | None = optional()
    report: ReportFiles | None = optional()

