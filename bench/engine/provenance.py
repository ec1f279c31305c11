"""What a record row was computed from, and why a stored row cannot be reused.

Every row of ``records.jsonl`` carries the digests of :data:`FIELDS`: the image's pixels, its
mask, the method's fingerprint (:meth:`methods.Method.fingerprint`), what the method read for
that image (:meth:`methods.Method.input_fingerprint`, e.g. a prediction file) and the scoring
code. A row is reused only when all of them equal the current ones; a row without them
(written by an older version of the suite) is never reused.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from bench.core.digest import installed_versions, json_sha256, source_sha256
from bench.inputs.protocol import Protocol
from bench.metrics.registry import MetricInfo
from methods.base import LIBRARIES, Method

FIELDS = ("image_sha256", "mask_sha256", "method_sha256", "input_sha256", "scoring_sha256")
# What changed, in the order a row's reason is named (one reason per row).
NO_PROVENANCE = "no provenance recorded (written by an older version of the suite)"
IMAGE_CHANGED = "image pixels changed"
MASK_CHANGED = "mask changed"
SCORING_CHANGED = "scoring code or library versions changed"


def scoring_parts(metrics: Iterable[MetricInfo] = ()) -> dict[str, str]:
    """What the metrics of a row depend on besides the output: the scoring code, library versions and weights.

    ``metrics`` are the per-image metrics a row is scored with; those computed from weight files
    (LPIPS's backbone) add the files' digests, so a replaced file is a change like a code change.
    """
    parts = {
        "evaluation": source_sha256("bench.engine.evaluate"),
        "images": source_sha256("bench.core.images"),
        "metrics": source_sha256("bench.metrics", whole_package=True),
        "versions": installed_versions(LIBRARIES),
    }
    weights = {m.name: m.weights() for m in metrics if m.weights is not None}
    if weights:
        parts["weights"] = json_sha256(weights)
    return parts


def method_parts(method: Method) -> dict[str, str]:
    """A method's fingerprint parts as strings.

    Raises
    ------
    ValueError
        The method's ``fingerprint()`` raised or returned something that is not a mapping (named).
    """
    try:
        parts = method.fingerprint()
        return {str(k): str(v) for k, v in dict(parts).items()}
    except Exception as err:  # user code: any error becomes one line naming the method
        raise ValueError(f"{method.spec}: fingerprint() failed ({type(err).__name__}: {err})") from None


class Provenance:
    """The current provenance of every (method, image) of a run, computed once per run.

    Parameters
    ----------
    proto : Protocol
        The run's images and masks.
    methods : iterable of Method
        The methods this run computes (their fingerprints are taken here, once).
    metrics : iterable of MetricInfo
        The per-image metrics the rows are scored with (see :func:`scoring_parts`).
    """

    def __init__(self, proto: Protocol, methods: Iterable[Method], metrics: Iterable[MetricInfo] = ()):
        self.proto = proto
        self.methods = {m.spec: m for m in methods}
        self.parts = {spec: method_parts(m) for spec, m in self.methods.items()}
        self.method_sha256 = {spec: json_sha256(parts) for spec, parts in self.parts.items()}
        self.scoring_sha256 = json_sha256(scoring_parts(metrics))
        self._inputs: dict[tuple[str, str], str | None] = {}

    def of(self, spec: str, image_id: str) -> dict[str, str | None]:
        """The :data:`FIELDS` of a row of ``spec`` on ``image_id`` computed now."""
        key = (spec, image_id)
        if key not in self._inputs:
            self._inputs[key] = self.methods[spec].input_fingerprint(image_id)
        return {
            "image_sha256": self.proto.image_digest(image_id),
            "mask_sha256": self.proto.mask_digest(image_id),
            "method_sha256": self.method_sha256[spec],
            "input_sha256": self._inputs[key],
            "scoring_sha256": self.scoring_sha256,
        }

    def data_reason(self, row: dict[str, Any]) -> str | None:
        """Why a row's image, mask or scoring differ from the run's, or None when they agree."""
        if any(f not in row for f in FIELDS):
            return NO_PROVENANCE
        image_id = row["image_id"]
        if row["image_sha256"] != self.proto.image_digest(image_id):
            return IMAGE_CHANGED
        if row["mask_sha256"] != self.proto.mask_digest(image_id):
            return MASK_CHANGED
        if row["scoring_sha256"] != self.scoring_sha256:
            return SCORING_CHANGED
        return None

    def reason(self, row: dict[str, Any], earlier_parts: dict[str, str] | None = None) -> str | None:
        """Why a stored row of a method of this run cannot be reused, or None when it can.

        Parameters
        ----------
        row : dict
            A row of ``records.jsonl`` of one of this run's methods.
        earlier_parts : dict, optional
            The method's fingerprint parts recorded by the run that wrote the row
            (``config.json``), to name which part changed.
        """
        spec = row["method"]
        why = self.data_reason(row)
        if why is not None:
            return why
        if row["method_sha256"] != self.method_sha256[spec]:
            return f"{spec}: {_changed_parts(earlier_parts, self.parts[spec])}"
        current = self.of(spec, row["image_id"])["input_sha256"]
        if row["input_sha256"] != current:
            return f"{spec}: {self.methods[spec].input_name} changed"
        return None


def _changed_parts(before: dict[str, str] | None, now: dict[str, str]) -> str:
    if not before or not isinstance(before, dict):  # config.json deleted, or not written by this suite
        return "method fingerprint changed"
    names = [k for k in dict.fromkeys([*now, *before]) if before.get(k) != now.get(k)]
    if not names:  # the recorded parts are those of a later run than the row's
        return "method fingerprint changed"
    return f"{', '.join(names)} changed"


def describe(reasons: Counter, verb: str = "recomputed") -> str:
    """``3 rows recomputed: predictions:dir=x: prediction file changed (3)``."""
    total = sum(reasons.values())
    detail = "; ".join(f"{why} ({count})" for why, count in reasons.most_common())
    return f"{total} row{'s' if total != 1 else ''} {verb}: {detail}"
