"""A model's rows held as a frame: the pandas side of what the guards and fitters ask of a model's data.

The guards (:func:`analysis.guards.fit_guarded`) ask a model's rows for counts and hand them
operations; the fitters get the rows collapsed to covariate patterns. :class:`FrameRows` answers from a
coded frame in memory; ``derma.lake.fitting.EngineRows`` answers the same questions with aggregation
queries on an engine, for data that never fits in memory. Both are immutable: each operation returns
new rows.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from analysis.design import CATEGORICALS, CLINIC, collapse
from analysis.merges import Operation, apply_to_frame
from analysis.summary import RowsSummary, summarise_frame


@dataclass(frozen=True)
class FrameRows:
    """Coded covariates (``analysis.design.code_covariates``), the outcome, its binary form and patients."""

    frame: pd.DataFrame
    y: np.ndarray
    y_binary: np.ndarray
    clusters: np.ndarray

    @property
    def n(self) -> int:
        return len(self.frame)

    @property
    def binary_events(self) -> int:
        return int(np.asarray(self.y_binary, dtype=bool).sum())

    @property
    def n_patients(self) -> int:
        return int(pd.unique(self.clusters).size)

    def clinic_counts(self) -> pd.DataFrame:
        """Sessions and distinct outcome values per clinic (index: clinic)."""
        if CLINIC not in self.frame:
            return pd.DataFrame(columns=["size", "nunique"])
        data = pd.DataFrame({"clinic": self.frame[CLINIC].astype(object).to_numpy(), "y": self.y})
        return data.groupby("clinic")["y"].agg(["size", "nunique"])

    def without_clinics(self, clinics: list) -> FrameRows:
        keep = ~np.isin(self.frame[CLINIC].astype(object).to_numpy(), clinics)
        return self._subset(keep)

    def level_cube(self) -> pd.DataFrame:
        """Sessions per combination of categorical levels (clinic aside) and binary outcome."""
        columns = [c for c in CATEGORICALS if c in self.frame and c != CLINIC]
        data = self.frame[columns].astype(object).assign(y=np.asarray(self.y_binary, dtype=bool))
        return data.groupby([*columns, "y"]).size().rename("n").reset_index()

    def with_operations(self, ops: list[Operation]) -> FrameRows:
        frame = self.frame.copy()
        keep = apply_to_frame(frame, ops)
        return replace(self, frame=frame)._subset(keep)

    def summary(self) -> RowsSummary:
        return summarise_frame(self.frame, self.y)

    def categorised(self, categories: dict[str, list[str]]) -> FrameRows:
        """The rows with each categorical a pandas Categorical in the given order (reference first)."""
        frame = self.frame.copy()
        for col, order in categories.items():
            frame[col] = pd.Categorical(frame[col].astype(object), categories=order)
        return replace(self, frame=frame)

    def collapsed(self):
        """The rows collapsed to covariate patterns, for the fitters."""
        return collapse(self.frame, list(self.frame.columns), self.y, self.clusters)

    def collapsed_binary(self, cut):
        """The rows collapsed with the binary outcome ``y >= cut`` (the proportional-odds check)."""
        return collapse(
            self.frame, list(self.frame.columns), (np.asarray(self.y) >= cut).astype(int), self.clusters
        )

    @staticmethod
    def fitter(kind: str):
        from analysis.ordinal import fit_cumulative_logit
        from analysis.side_effects import fit_logit

        return {"logit": fit_logit, "ordinal": fit_cumulative_logit}[kind]

    def _subset(self, keep: np.ndarray) -> FrameRows:
        if keep.all():
            return self
        return FrameRows(
            self.frame.loc[keep],
            np.asarray(self.y)[keep],
            np.asarray(self.y_binary)[keep],
            np.asarray(self.clusters)[keep],
        )
