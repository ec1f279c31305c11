"""The metric registry: per-image metrics and set-level metrics (FID, KID, PRDC, IDS).

Per-image metrics are functions ``fn(pred, target, mask, region, **options) -> float`` with
``region`` either ``"image"`` (the whole image) or ``"hole"`` (only the missing
pixels; SSIM averages its full-image map over the hole pixels). Records store them as
``<name>`` and ``hole_<name>``.

Set-level metrics compare the distribution of a method's outputs with the real
images of the same run, from their stored features:
``fn(real, fake, context, **options) -> SetMetricResult`` with ``real`` and ``fake`` two
``N x D`` float64 feature matrices, row ``i`` of both from image ``i`` (or, with
``context.reference``, the reference's own features, possibly None, and unpaired); see
:class:`SetMetricContext`.

Each entry also describes itself once (label, digits, gate tolerance, table group, reference),
for every table and gate to read. A metric is named by a spec, as methods are:

- ``name`` or ``name:key=value,...``: a registered metric, with options typed by its
  parameters' defaults (``lpips:net=vgg``); the canonical spec is the record column;
- a plugin's name: entry points of the ``inpaint_bench.metrics`` group, registered on first use;
- ``@module:attr[:key=value,...]``: any importable metric function (:mod:`bench.metrics.plugins`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

import numpy as np

from bench.core.registry import Registry, UnknownNameError
from bench.core.spec import canonical_spec, parse_options, split_specs, typed_options
from bench.metrics.descriptions import BUILT_IN_DESCRIPTIONS

REGIONS = ("image", "hole")
BUILT_IN = "built-in"
FALLBACK_TOLERANCE: Mapping[str, float] = {"rel": 0.01}
GROUPS = ("pixel", "perceptual", "set", "plugin")

log = logging.getLogger("bench")


class MetricUnavailable(ValueError):
    """A metric cannot be computed on this machine (e.g. a missing weights file); the message says what to do."""


class MetricValueError(ValueError):
    """A metric's own code failed on one input (raised, returned NaN or the wrong shape); the message names it."""


@dataclass(frozen=True)
class MetricInfo:
    """What the registry knows about one metric.

    Attributes
    ----------
    name : str
        Registry name (``psnr``); also the record column for the whole image.
    kind : str
        ``"image"`` (one value per image and region) or ``"set"`` (one value per method).
    higher_is_better : bool
        Direction used by tables (arrows, bold-best) and by the regression gate.
    fn : callable
        The implementation (see the module docstring for the two signatures).
    summary : str
        One line for ``bench list metrics``.
    label : str
        Table header (``PSNR``); '' shows the name upper-cased.
    digits : int
        Decimal places in tables.
    tolerance : mapping
        Default gate tolerance for the whole-image column: ``{"abs": a, "rel": r}`` (either key may
        be absent); a value worse than the baseline by more than ``max(abs, rel * |baseline|)`` fails.
    hole_tolerance : mapping or None
        The same for the ``hole_`` column (None: as ``tolerance``).
    group : str
        Table the metric belongs in (one of :data:`GROUPS`).
    reference : str
        The paper or code the numbers follow.
    definition : str
        What the numbers are, as a versioned string (``psnr/2: ...``) a run records in ``config.json``
        and a gate baseline keeps (see :mod:`bench.metrics.definitions`); '' for none.
    origin : str
        ``built-in``, ``plugin DISTRIBUTION VERSION`` or ``@module:attr``.
    params : dict
        Spec options with their defaults (the defaults give the types).
    open_keys : bool
        Whether options outside ``params`` are accepted too.
    regions : tuple of str
        The regions it has a value for (a per-image metric without a map has no ``hole`` value).
    check : callable or None
        ``check(**options)`` raises :class:`MetricUnavailable` when the metric cannot run here
        (called when a spec is resolved for a run, before any work).
    guarded : bool
        Errors of its code become a NaN and a message in the row, not a failed run (user code).
    weights : callable or None
        ``weights(**options) -> str``: the files its numbers come from, with their SHA-256, recorded
        beside its definition (so a replaced weights file is a different metric to a resume and a gate).
    """

    name: str
    kind: str
    higher_is_better: bool
    fn: Callable
    summary: str = ""
    label: str = ""
    digits: int = 4
    tolerance: Mapping[str, float] = field(default_factory=lambda: dict(FALLBACK_TOLERANCE))
    hole_tolerance: Mapping[str, float] | None = None
    group: str = "pixel"
    reference: str = ""
    definition: str = ""
    origin: str = BUILT_IN
    params: Mapping[str, Any] = field(default_factory=dict)
    open_keys: bool = False
    regions: tuple[str, ...] = REGIONS
    check: Callable[..., None] | None = None
    guarded: bool = False
    weights: Callable[..., str] | None = None

    def column(self, region: str = "image") -> str:
        """Record column holding this metric for ``region``."""
        return self.name if region == "image" else f"{region}_{self.name}"

    @property
    def display_label(self) -> str:
        """Header of its table column (``label``, or the name upper-cased)."""
        return self.label or self.name.upper()

    def tolerance_for(self, region: str = "image") -> dict[str, float]:
        """Default gate tolerance of the column of ``region``."""
        if region == "hole" and self.hole_tolerance is not None:
            return dict(self.hole_tolerance)
        return dict(self.tolerance)


@dataclass
class SetMetricContext:
    """Everything a set-level metric may need beyond the two feature matrices.

    A set metric is ``fn(real, fake, ctx) -> SetMetricResult``: ``real`` and ``fake`` are
    ``N x D`` float64 features in the same order (row ``i`` of both belongs to image ``i``:
    paired sets); when ``reference`` is set, ``real`` is ``reference.feats`` (the reference's
    per-image features, possibly None) and the sets are not paired.

    Attributes
    ----------
    seed : int
        Seed for any resampling (bootstrap, KID subsets, subset draws).
    options : dict
        Options from the command line: ``fid_bootstrap``, ``kid_subsets``, ``kid_subset_size``
        and a plugin's own.
    progress : bool
        Whether to show progress bars.
    extractor : dict
        ``{"extractor": name, "extractor_sha256": hex, "resize": text}`` of the features,
        copied into every result's ``details``.
    reference : ReferenceStats or None
        External statistics of the real side (:class:`bench.metrics.reference_stats.ReferenceStats`,
        ``--fid-reference``) in place of the run's own real features.
    images : tuple or None
        ``(real_images, fake_images)``: two equally long lazy sequences of float32 ``H x W x 3``
        images, for plugins declared with ``inputs = "images"``; None when the caller has none.
    shared : dict
        Scratch shared by the set metrics of one method and feature set (Gram matrices, k-NN
        distances, the IDS fit), so they compute those once. The caller makes a fresh one per
        method and feature set; a metric stores only values keyed by the features' content.
    """

    seed: int = 0
    options: dict[str, Any] = field(default_factory=dict)
    progress: bool = True
    extractor: dict[str, Any] = field(default_factory=dict)
    reference: Any = None
    images: Any = None
    shared: dict = field(default_factory=dict)


@dataclass
class SetMetricResult:
    """Value of a set-level metric with its interval and any details worth recording."""

    value: float
    low: float = float("nan")
    high: float = float("nan")
    details: dict[str, Any] = field(default_factory=dict)


def withheld(reason: str, **details: Any) -> SetMetricResult:
    """A set metric without a value: NaN value and interval, the reason in ``details["withheld"]``.

    Runs record it (``value: null`` in ``set_metrics.json``), summaries and reports print the
    reason, and the gate skips it; it never stops a run.
    """
    return SetMetricResult(float("nan"), float("nan"), float("nan"), {**details, "withheld": reason})


def too_few(name: str, n: int, minimum: int, why: str) -> SetMetricResult | None:
    """:func:`withheld` when ``n < minimum`` (``name needs n >= minimum: why``), else None."""
    if n >= minimum:
        return None
    return withheld(f"{name} needs n >= {minimum} images ({why}); this set has {n}", n=int(n), min_n=int(minimum))


METRICS: Registry[MetricInfo] = Registry("metric")


def register_metric(name: str, *, kind: str, higher_is_better: bool, summary: str = "", **description: Any) -> Callable:
    """Register a metric implementation under ``name``.

    Parameters
    ----------
    name : str
        Registry name and record column.
    kind : {"image", "set"}
        Per-image or set-level metric.
    higher_is_better : bool
        Direction of improvement.
    summary : str
        One line for ``bench list metrics``.
    **description
        Any other :class:`MetricInfo` field (``label``, ``digits``, ``tolerance``, ``hole_tolerance``,
        ``group``, ``reference``, ``params``, ``check``); what is not given comes from
        :data:`bench.metrics.descriptions.BUILT_IN_DESCRIPTIONS` (the metrics registered before
        entries carried their description), then from the defaults.
    """
    if kind not in ("image", "set"):
        raise ValueError(f"metric kind must be 'image' or 'set', got {kind!r}")
    if description.get("group", "pixel" if kind == "image" else "set") not in GROUPS:
        raise ValueError(f"metric group must be one of {', '.join(GROUPS)}, got {description['group']!r}")

    def deco(fn: Callable) -> Callable:
        fields = {**BUILT_IN_DESCRIPTIONS.get(name, {}), **description}
        fields.setdefault("group", "pixel" if kind == "image" else "set")
        METRICS.add(name, MetricInfo(name, kind, higher_is_better, fn, summary, **fields))
        return fn

    return deco


# Resolvers of specs that name code rather than a registry entry, keyed by their first character
# (``@``): installed by the module that knows how to load such code (:mod:`bench.metrics.plugins`).
SPEC_RESOLVERS: dict[str, Callable[[str], MetricInfo]] = {}
# Broken plugins, by entry-point name: the reason, for `bench list metrics` and for a run naming one.
BROKEN: dict[str, str] = {}
# Metrics resolved from specs with options or from code, by canonical spec: one object per spec and
# process, so a network a metric loads is loaded once.
_RESOLVED: dict[str, MetricInfo] = {}


# Set-level metrics live in modules that import torch; they register when
# imported here so that `bench list metrics` and the runner see one table.
METRIC_MODULES = (
    "bench.metrics.pixel",
    "bench.metrics.msssim",
    "bench.metrics.flip",
    "bench.metrics.lpips",
    "bench.metrics.fid",
    "bench.metrics.set_scores",
    "bench.metrics.plugins",
)


def _load() -> None:
    import importlib

    for module in METRIC_MODULES:
        importlib.import_module(module)


def resolve(spec: str) -> MetricInfo:
    """The metric a spec names, without checking that it can run here (see :func:`get_metric`).

    Raises
    ------
    KeyError
        An unknown name (close matches listed).
    ValueError
        A bad option, an option of a metric that takes none, or code that cannot be loaded.
    """
    _load()
    spec = spec.strip()
    if spec in _RESOLVED:
        return _RESOLVED[spec]
    resolver = SPEC_RESOLVERS.get(spec[:1])
    if resolver is not None:
        info = resolver(spec)
        return _RESOLVED.setdefault(info.name, info)
    name, _, rest = spec.partition(":")
    if name in BROKEN and name not in METRICS:
        raise ValueError(BROKEN[name])
    info = METRICS.get(name)
    options = typed_options(parse_options(rest, spec), dict(info.params), "metric", name, info.open_keys)
    # Options equal to their defaults are dropped: `lpips:net=alex` is `lpips`, one column.
    options = {k: v for k, v in options.items() if k not in info.params or v != info.params[k]}
    if not options:
        return info
    canonical = canonical_spec(name, options)
    if canonical not in _RESOLVED:
        check = partial(info.check, **options) if info.check is not None else None
        weights = partial(info.weights, **options) if info.weights is not None else None
        _RESOLVED[canonical] = replace(
            info, name=canonical, fn=partial(info.fn, **options), check=check, weights=weights
        )
    return _RESOLVED[canonical]


def get_metric(spec: str) -> MetricInfo:
    """The metric ``spec`` names (``psnr``, ``lpips:net=vgg``, ``@mymodule:score``), ready to run.

    Raises
    ------
    KeyError
        An unknown name.
    ValueError
        A bad spec, or :class:`MetricUnavailable`: the metric cannot run here (the message says why
        and what to do), so a run naming it is refused before any work.
    """
    info = resolve(spec)
    if info.check is not None:
        info.check()
    return info


def all_metrics(kind: str | None = None) -> list[MetricInfo]:
    """Registered metrics (then those resolved from specs in this process), optionally of one kind."""
    _load()
    found = [m for _, m in METRICS.items()] + [m for n, m in _RESOLVED.items() if n not in METRICS]
    return [m for m in found if kind is None or m.kind == kind]


# What `bench run` scores unless --metrics says otherwise: the study's pixel metrics, both SSIM
# windows, FID (with FID-infinity) and KID. The k-NN and SVM set metrics (precision, recall,
# density, coverage, P-IDS, U-IDS) are opt-in (`--metrics all` or by name): P-IDS/U-IDS are 0 for
# every method below n ~ 2048 (a linear SVM separates any 2n points in 2048 dimensions), and the
# SVM fits cost seconds per method.
DEFAULT_METRICS = ("mse", "l1", "psnr", "ssim", "ssim_gaussian", "fid", "fid_inf", "kid", "kid_paired")


def default_metrics() -> list[MetricInfo]:
    """The metrics of a run that does not name its own (:data:`DEFAULT_METRICS`)."""
    _load()
    return [METRICS.get(name) for name in DEFAULT_METRICS]


def metric_names(text: str) -> list[str] | None:
    """Parse a ``--metrics`` value: ``default`` (None, see :data:`DEFAULT_METRICS`), ``all`` or a list of specs.

    ``all`` leaves out, with one warning each, the metrics that cannot run here (LPIPS without
    its backbone file) and names broken plugins in a warning.
    """
    key = text.strip().lower()
    if key in ("", "default"):
        return None
    if key == "all":
        names = []
        _load()
        for _, m in METRICS.items():  # registered ones: not the specs this process happened to resolve
            try:
                if m.check is not None:
                    m.check()
            except MetricUnavailable as err:
                log.warning("--metrics all leaves out %s: %s", m.name, err)
                continue
            names.append(m.name)
        for name, reason in sorted(BROKEN.items()):
            log.warning("--metrics all leaves out the broken plugin %s: %s", name, reason)
        return names
    return split_specs(text)


def split_column(column: str) -> tuple[str, str]:
    """``(region, metric spec)`` of a record or summary column: ``hole_psnr`` -> ``("hole", "psnr")``."""
    for region in REGIONS[1:]:
        if column.startswith(region + "_"):
            return region, column[len(region) + 1 :]
    return "image", column


def describe(column: str) -> MetricInfo:
    """The metric behind a record or summary column (``hole_lpips:net=vgg`` -> the VGG LPIPS entry).

    Columns of metrics named by code (``@module:attr``) import that code; an unknown column, or
    one whose code cannot be imported here, raises KeyError.
    """
    try:
        return resolve(split_column(column)[1])
    except ValueError as err:
        raise UnknownNameError(f"column {column!r}: {err}") from None


def column_direction(column: str) -> bool:
    """Whether higher is better for a record or summary column like ``hole_psnr``."""
    return describe(column).higher_is_better


def evaluate_image(pred: np.ndarray, target: np.ndarray, mask: np.ndarray, metrics: list[MetricInfo]) -> dict[str, Any]:
    """All per-image metrics on the whole image and on the hole.

    A metric of user code (``guarded``) that fails on this image, or a metric that cannot run
    here (:class:`MetricUnavailable`), gives NaN for its columns and its message under
    ``metric_errors``; the other metrics of the row are kept. A metric whose
    ``fn`` returns None for a region has no column there (a plugin returning a number has no hole value).

    Returns
    -------
    dict
        ``{column: value}`` with columns as :meth:`MetricInfo.column` names them.
    """
    row: dict[str, Any] = {}
    errors = []
    for m in metrics:
        for region in m.regions:
            try:
                value = m.fn(pred, target, mask, region)
            except (MetricValueError, MetricUnavailable) as err:
                # A run resolves its metrics with get_metric, which refuses unavailable ones before any
                # work; a caller that skipped that (scoring every registered metric) gets NaN and the reason.
                if not (m.guarded or isinstance(err, MetricUnavailable)):
                    raise
                errors.append(str(err))
                row[m.column(region)] = float("nan")  # a missing column reads as NaN too
                break
            if value is not None:
                row[m.column(region)] = float(value)
    if errors:
        row["metric_errors"] = "; ".join(errors)
    return row
