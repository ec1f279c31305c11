"""Metrics of user code: the ``inpaint_bench.metrics`` entry-point group and ``@module:attr`` specs.

A distribution declares one entry point per metric::

    [project.entry-points."inpaint_bench.metrics"]
    edge_error = "mypkg.metrics:edge_error"

and ``--metrics @mypkg.metrics:edge_error[:key=value,...]`` names any importable one without
installing it. What the object is:

- a per-image metric (the default): ``f(output, target, mask, **options)`` with ``H x W x 3``
  float32 images in [0, 1] and a bool ``H x W`` mask (True = missing), returning a number
  (the ``<name>`` column) or an ``H x W`` map (``<name>`` its mean, ``hole_<name>`` its mean over
  the hole, as hole SSIM);
- a set metric (``f.kind = "set"``): ``f(real, fake, **options)`` returning a number, with
  ``f.inputs`` saying what ``real`` and ``fake`` are:

  - ``"images"`` (the default): two equally long sequences of ``H x W x 3`` float32 images,
    item ``i`` of both from image ``i``. They are lazy (the run passes
    ``SetMetricContext.images``): each item is read from the run directory when indexed, so
    nothing holds the whole set, and such a plugin reads every image once more after the run
    has scored it. A caller without images (``ctx.images`` None: a report from stored
    features) gives NaN with the reason in its details;
  - ``"features"``: the two ``N x D`` float64 feature matrices every built-in set metric gets
    (the run's Inception pool3 features by default), from the features the run stores, so it
    costs no extraction. Against external reference statistics (``--fid-reference``) ``real``
    is the reference's per-image features, unpaired; a reference without them gives NaN with
    the reason.

Optional attributes of the object describe it: ``higher_is_better`` (default False: a
distance), ``label``, ``digits``, ``summary`` (default: the docstring's first line). Keyword
defaults after the data arguments are its spec options.

A plugin that cannot be imported is listed as broken and never breaks the registry. At run time
a per-image metric that raises, returns NaN or a map of the wrong shape gives NaN and a message
naming it in that row's ``metric_errors`` (the row and the other metrics are kept; one warning
per metric); a set metric that fails gives NaN with the message in its details.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import numpy as np

from bench.core.objects import PREFIX, ObjectLoadError, keyword_defaults, load_object, parse_object_spec, summary_of
from bench.core.spec import NAME, NAME_RULE, parse_options, typed_options
from bench.metrics.registry import (
    BROKEN,
    METRICS,
    SPEC_RESOLVERS,
    MetricInfo,
    MetricValueError,
    SetMetricContext,
    SetMetricResult,
)

GROUP = "inpaint_bench.metrics"
KINDS = ("image", "set")
INPUTS = ("images", "features")

log = logging.getLogger("bench")
_warned: set[str] = set()


@dataclass(frozen=True)
class MetricPlugin:
    """One entry point of :data:`GROUP`: its metric, or why it could not be loaded."""

    name: str
    reference: str
    distribution: str
    info: MetricInfo | None = None
    error: str | None = None


def _warn_once(name: str, message: str) -> None:
    if name not in _warned:
        _warned.add(name)
        log.warning("%s (further failures of this metric are only recorded in the rows)", message)


def _check_value(value: Any, what: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise MetricValueError(f"{what} returned {type(value).__name__}, not a number") from None
    if math.isnan(number):
        raise MetricValueError(f"{what} returned NaN")
    return number


def _image_fn(obj: Callable, what: str, options: dict[str, Any]) -> Callable:
    """``fn(pred, target, mask, region)`` over the user's ``obj(output, target, mask, **options)``."""
    last: list = []  # (pred, target, mask, options, result): the hole region reuses the image region's call

    def fn(pred: np.ndarray, target: np.ndarray, mask: np.ndarray, region: str, **spec_options: Any) -> float | None:
        given = {**options, **spec_options}
        if last and last[0] is pred and last[1] is target and last[2] is mask and last[3] == given:
            result = last[4]
        else:
            last.clear()
            try:
                result = obj(pred, target, mask, **given)
            except Exception as err:
                message = f"metric {what} raised {type(err).__name__}: {err}"
                _warn_once(what, message)
                raise MetricValueError(message) from None
            last.extend((pred, target, mask, given, result))
        try:
            return _region_value(result, mask, region, what)
        except MetricValueError as err:
            _warn_once(what, str(err))
            raise

    return fn


def _region_value(result: Any, mask: np.ndarray, region: str, what: str) -> float | None:
    if np.ndim(result) == 0:
        return _check_value(result, what) if region == "image" else None
    values = np.asarray(result, dtype=np.float64)
    if values.shape != mask.shape:
        raise MetricValueError(
            f"metric {what} returned an array of shape {values.shape}; expected a number or an "
            f"{mask.shape[0]}x{mask.shape[1]} map"
        )
    if np.isnan(values).any():
        raise MetricValueError(f"metric {what} returned a map holding NaN")
    if region == "image":
        return float(values.mean())
    return float(values[mask].mean()) if mask.any() else float("nan")


def _set_inputs(real: np.ndarray | None, fake: np.ndarray, ctx: SetMetricContext, what: str, inputs: str):
    """What the user's set metric is called with (see the module docstring); raises MetricValueError if absent."""
    if inputs == "features":
        if real is None:
            raise MetricValueError(
                f"metric {what} takes features of the real images; the reference statistics given hold none"
            )
        return real, fake
    if ctx.images is None:
        raise MetricValueError(
            f"metric {what} takes images (inputs = 'images'), and this caller passes features only; "
            "score it in a run (bench run), or declare inputs = 'features'"
        )
    return ctx.images


def _set_fn(obj: Callable, what: str, options: dict[str, Any], inputs: str) -> Callable:
    """``fn(real, fake, ctx)`` over the user's ``obj(real, fake, **options)``."""

    def fn(real: np.ndarray | None, fake: np.ndarray, ctx: SetMetricContext, **spec_options: Any) -> SetMetricResult:
        try:
            real_in, fake_in = _set_inputs(real, fake, ctx, what, inputs)
            value = _check_value(obj(real_in, fake_in, **options, **spec_options), f"metric {what}")
        except Exception as err:
            message = err if isinstance(err, MetricValueError) else f"metric {what} raised {type(err).__name__}: {err}"
            log.warning("%s", message)
            return SetMetricResult(float("nan"), details={"error": str(message), "n": len(fake)})
        return SetMetricResult(value, details={"n": len(fake), "inputs": inputs})

    return fn


def metric_of(obj: Any, name: str, what: str, origin: str, raw_options: str = "", spec: str = "") -> MetricInfo:
    """The registry entry for a user object (see the module docstring for what it may be).

    Parameters
    ----------
    obj : object
        The loaded function.
    name : str
        Registry name and record column.
    what : str
        How messages name it (the spec, or the plugin and its distribution).
    origin : str
        For ``bench list metrics``.
    raw_options : str
        ``key=value,...`` of a spec (typed by the function's keyword defaults).
    spec : str
        The full spec, for messages.

    Raises
    ------
    ValueError
        Not callable, an unknown kind or inputs, or a bad option.
    """
    if not callable(obj):
        raise ValueError(f"{what}: {type(obj).__name__} object is not callable; name a metric function")
    kind = getattr(obj, "kind", "image")
    inputs = getattr(obj, "inputs", "images")
    if kind not in KINDS:
        raise ValueError(f"{what}: kind {kind!r} is not one of {', '.join(KINDS)}")
    if inputs not in INPUTS:
        raise ValueError(f"{what}: inputs {inputs!r} is not one of {', '.join(INPUTS)}")
    params, open_keys = keyword_defaults(obj, skip=3 if kind == "image" else 2)
    options = typed_options(parse_options(raw_options, spec or name), params, "metric", name, open_keys)
    fn = _image_fn(obj, what, options) if kind == "image" else _set_fn(obj, what, options, inputs)
    return MetricInfo(
        name,
        kind,
        bool(getattr(obj, "higher_is_better", False)),
        fn,
        str(getattr(obj, "summary", "") or summary_of(obj)),
        label=str(getattr(obj, "label", "")),
        digits=int(getattr(obj, "digits", 4)),
        group="plugin",
        reference=str(getattr(obj, "reference", "")),
        origin=origin,
        params=params,
        open_keys=open_keys,
        guarded=True,
    )


def object_metric(spec: str) -> MetricInfo:
    """The metric an ``@module:attr[:key=value,...]`` spec names; its column is the spec (options canonical).

    Raises
    ------
    ValueError
        A malformed spec, code that cannot be imported, or an object that is not a metric.
    """
    text = spec.strip()
    parsed = parse_object_spec(text, "metric")
    obj = load_object(parsed.reference, f"metric spec {text!r}")
    options = parse_options(parsed.options, text)
    name = PREFIX + parsed.reference + (":" + ",".join(f"{k}={options[k]}" for k in sorted(options)) if options else "")
    return metric_of(obj, name, text, PREFIX + parsed.reference, parsed.options, text)


def _distribution(ep: EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return "unknown distribution" if dist is None else f"{dist.metadata['Name']} {dist.version}"


def discover() -> list[MetricPlugin]:
    """Load every entry point of :data:`GROUP`; each failure is kept with its reason."""
    found: list[MetricPlugin] = []
    for ep in sorted(entry_points(group=GROUP), key=lambda e: (e.name, e.value)):
        dist = _distribution(ep)
        what = f"metric {ep.name!r} (plugin {ep.value} of {dist})"
        if not NAME.match(ep.name):
            found.append(MetricPlugin(ep.name, ep.value, dist, error=f"{what}: a metric name must {NAME_RULE}"))
            continue
        if ep.name in METRICS or any(p.name == ep.name for p in found):
            found.append(MetricPlugin(ep.name, ep.value, dist, error=f"{what}: the name {ep.name!r} is already taken"))
            continue
        try:
            info = metric_of(load_object(ep.value, what), ep.name, what, f"plugin {dist}")
        except (ObjectLoadError, ValueError) as err:
            found.append(MetricPlugin(ep.name, ep.value, dist, error=str(err)))
            continue
        found.append(MetricPlugin(ep.name, ep.value, dist, info=info))
    return found


def register_plugins() -> None:
    """Add the group's metrics to the registry and their failures to :data:`BROKEN`."""
    for plugin in discover():
        if plugin.info is not None:
            METRICS.add(plugin.name, plugin.info)
        else:
            BROKEN.setdefault(plugin.name, plugin.error or "cannot be loaded")


SPEC_RESOLVERS[PREFIX] = object_metric
register_plugins()
