"""The interface every data source implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np


class ImageLoadError(Exception):
    """An image could not be used; the message names the file and the reason."""

    def __init__(self, where: str, reason: str):
        super().__init__(f"{where}: {reason}")
        self.where = where
        self.reason = reason


@dataclass(frozen=True)
class Sample:
    """One test image: a stable id and the preprocessed contract image."""

    id: str
    image: np.ndarray


class Source(ABC):
    """A set of images addressed by stable string ids.

    Subclasses list ids in a fixed order (so ``--n 280`` always means the same
    280 images) and load one id at a time, raising :class:`ImageLoadError` for
    files that cannot be used.
    """

    name: str = ""

    @abstractmethod
    def ids(self) -> list[str]:
        """All ids of this source, in their canonical order."""

    @abstractmethod
    def load(self, image_id: str) -> np.ndarray:
        """Load and preprocess one image as a contract image."""

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """JSON-able description (root, split, preprocessing) recorded in run configs."""

    @property
    def unit(self) -> str:
        """One-line description of the resampling unit, a plural noun phrase ("CelebA identities").

        Captions read "resampling <unit> (<k> units)".
        """
        return "images (each image its own unit)"

    def groups(self, ids: list[str]) -> dict[str, str]:
        """The resampling unit of each image: ``{image_id: group}``.

        Images of one group (crops of one photo, faces of one person) are not
        independent; bootstrap intervals resample whole groups (see
        :func:`bench.core.stats.bootstrap_ci`). By default every image is its own group.

        Parameters
        ----------
        ids : list of str
            Image ids of this source.

        Returns
        -------
        dict
            One group label per id.
        """
        return {i: i for i in ids}

    def take(self, n: int | None, *, on_skip=None) -> tuple[list[Sample], list[dict[str, str]]]:
        """Load the first ``n`` usable images, skipping (and reporting) unusable ones.

        Parameters
        ----------
        n : int or None
            Number of usable images wanted; None for all.
        on_skip : callable, optional
            Called with each :class:`ImageLoadError` as it happens (e.g. to warn).

        Returns
        -------
        samples : list of Sample
            Up to ``n`` loaded images in id order.
        skipped : list of dict
            ``{"id", "reason"}`` for each id that could not be used.
        """
        samples: list[Sample] = []
        skipped: list[dict[str, str]] = []
        for image_id in self.ids():
            if n is not None and len(samples) >= n:
                break
            try:
                samples.append(Sample(image_id, self.load(image_id)))
            except ImageLoadError as err:
                skipped.append({"id": image_id, "reason": str(err)})
                if on_skip is not None:
                    on_skip(err)
        return samples, skipped
