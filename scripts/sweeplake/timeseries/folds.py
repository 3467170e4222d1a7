"""Forward-chaining folds on each series' training steps, as data, and the fits they imply.

Fold k of a series is the k-th validation window of scikit-learn's
TimeSeriesSplit(n_splits=K, gap=N) over that series' training steps. The steps before the
first window are never validated: their fold is null (NO_FOLD), and they are only ever
training data.

A series' window k is predicted by a model fitted on the training steps that end N steps
before the window starts: in that series, exactly TimeSeriesSplit's training indices; in the
other series, every training step strictly earlier in time than that cut. So no model ever
sees a value from the time of a point it predicts, or later, in any series. Series whose
windows are cut at the same time share one model (one split); aligned series need just one
per fold.
"""

from __future__ import annotations

import numpy as np

from sweeplake.dataset import NO_FOLD
from sweeplake.errors import BadInput


def forward_folds(train_steps: int, folds: int, gap: int) -> np.ndarray:
    """Each of a series' training steps' fold (0..folds-1), NO_FOLD before the first window:
    TimeSeriesSplit's test_size is train_steps // (folds + 1), its windows end at the last
    step."""
    size = train_steps // (folds + 1)
    if size < 1 or train_steps - folds * size - gap < 1:
        raise BadInput(
            f"a series with {train_steps} training steps cannot hold {folds} folds with "
            f"--gap {gap}: at least {folds + 1 + gap} are needed (fewer --folds or a smaller "
            "--gap or --test-size)"
        )
    fold = np.full(train_steps, NO_FOLD, dtype=np.int64)
    first = train_steps - folds * size
    for k in range(folds):
        fold[first + k * size : first + (k + 1) * size] = k
    return fold


def time_keys(times: np.ndarray) -> np.ndarray:
    """The points' times as comparable values: numbers when every one is, else ISO text."""
    try:
        return np.array([float(t) for t in times])
    except ValueError:
        return np.asarray(times, dtype=str)


def forward_splits(
    series: np.ndarray, step: np.ndarray, fold: np.ndarray, gap: int, when: np.ndarray
) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """The (fit rows, held-out rows) of every fold, as indices into these training rows, one
    split per fold and time of cut; `when` is each row's time key (time_keys)."""
    splits = []
    for k in np.unique(fold[fold != NO_FOLD]):
        held = fold == k
        cuts: dict[object, np.ndarray] = {}
        for name in np.unique(series[held]):
            mine = series == name
            first_left_out = step[mine & held].min() - gap
            cut = when[mine & (step == first_left_out)][0]
            cuts[cut] = cuts.get(cut, np.zeros(len(fold), dtype=bool)) | (mine & held)
        for cut in sorted(cuts):
            splits.append((np.flatnonzero(when < cut), np.flatnonzero(cuts[cut])))
    return tuple(splits)
