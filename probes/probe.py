"""Contact probes: the sparse logistic regression of Rao et al. (2021) as a scikit-learn estimator.

A probe maps the symmetrized, APC-corrected attention maps of one residue pair,
shape ``(n_features,)``, to a contact probability. Rao et al. fitted ESM-1b's
with ``LogisticRegression(penalty="l1", C=0.15, solver="liblinear")`` on all 660
maps; fair-esm ships only the result, as a file
``{"model": {"contact_head.regression.weight": (1, 660), "contact_head.regression.bias": (1,)}}``.
:meth:`ContactProbe.save` writes that layout (plus a ``"probe"`` metadata record
that fair-esm ignores) and :meth:`ContactProbe.load` reads it back, or reads the
released file.

Features follow fair-esm's flattening, ``(layer head)`` layer-major: column
``layer * num_heads + head`` of the full layout, with 0-based ``layer`` and
``head``. A probe may use a subset of the maps (``heads``); its columns are then
those maps, in the order given, and :meth:`ContactProbe.to_regression` expands it
back to the full ``(1, num_layers * num_heads)`` layout with zeros elsewhere.

Example
-------
>>> probe = ContactProbe(num_heads=20).fit(X, y)  # X: (n_pairs, 660), y: 0/1
>>> probe.save("probe.pt", metadata={"model": "esm1b_t33_650M_UR50S"})
>>> ContactProbe.load("probe.pt").coef_.shape
(1, 660)
"""

from __future__ import annotations

import datetime
import inspect
from collections.abc import Mapping
from numbers import Real
from pathlib import Path
from typing import Any

import numpy as np
import torch
from einops import rearrange
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted, validate_data
from torch import Tensor

from contacts.constants import RAO_C
from contacts.io.regression import (
    BIAS_KEY,
    FORMAT_VERSION,
    TRAINED_FOR,
    WEIGHT_KEY,
    RegressionFileError,
    check_trained_for,
    read_regression,
    regression_from_state,
    write_regression,
)
from contacts.io.safe_load import CheckpointError
from contacts.predictor.protocol import ContactModel

# Rao et al. (2021), "Transformer protein language models are unsupervised structure learners".
RAO_PENALTY = "l1"
RAO_SOLVER = "liblinear"


_L1_RATIO = {"l1": 1.0, "l2": 0.0}
# scikit-learn 1.8 deprecated `penalty` in favour of `l1_ratio`.
_LR_HAS_DEPRECATED_PENALTY = (
    inspect.signature(LogisticRegression).parameters["penalty"].default == "deprecated"
)


#: A file that is not in fair-esm's contact-regression layout (see :mod:`contacts.io.regression`).
ProbeFileError = RegressionFileError


def head_columns(heads: np.ndarray, num_heads: int) -> np.ndarray:
    """Columns of the full ``(layer head)`` layout that ``heads`` occupy.

    Parameters
    ----------
    heads : ndarray, shape=(n, 2)
        0-based ``(layer, head)`` pairs.
    num_heads : int

    Returns
    -------
    ndarray, shape=(n,), dtype=int64
    """
    heads = np.asarray(heads, dtype=np.int64).reshape(-1, 2)
    return heads[:, 0] * num_heads + heads[:, 1]


def layers_of(width: int, num_heads: int, num_layers: int | None = None, *, what: str = "columns",
              error: type[Exception] = ValueError) -> int:
    """Layers of the ``(layer head)`` layout of ``width`` columns with ``num_heads`` heads per layer.

    ``num_layers``, where known, must agree. ``what`` names the columns in the
    error, which is of class ``error``.
    """
    if width % num_heads:
        raise error(f"{what} are not a whole number of layers of {num_heads} heads")
    if num_layers is not None and num_layers * num_heads != width:
        raise error(f"{what}, but num_layers * num_heads = {num_layers} * {num_heads} = {num_layers * num_heads}")
    return width // num_heads


def all_heads(num_layers: int, num_heads: int) -> np.ndarray:
    """Every ``(layer, head)`` pair in fair-esm's layer-major order, shape=(l * h, 2)."""
    grid = np.stack(np.meshgrid(np.arange(num_layers), np.arange(num_heads), indexing="ij"), -1)
    return rearrange(grid, "l h two -> (l h) two").astype(np.int64)


def first_layers(n: int, num_heads: int) -> np.ndarray:
    """The heads of the first ``n`` layers, shape=(n * num_heads, 2)."""
    return all_heads(n, num_heads)


def top_heads(scores: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` best-scoring heads, in layer-major order.

    Parameters
    ----------
    scores : ndarray, shape=(layers, heads)
        Higher is better; NaN counts as worst.
    k : int

    Returns
    -------
    ndarray, shape=(k, 2)
        0-based ``(layer, head)`` pairs.
    """
    scores = np.asarray(scores, dtype=float)
    if scores.ndim != 2:
        raise ValueError(f"scores must have shape (layers, heads), got {scores.shape}")
    if not 1 <= k <= scores.size:
        raise ValueError(f"k={k} is outside 1..{scores.size} (the number of heads)")
    flat = np.where(np.isnan(scores), -np.inf, scores).ravel()
    best = np.sort(np.argsort(-flat, kind="stable")[:k])
    return np.stack(np.unravel_index(best, scores.shape), axis=1).astype(np.int64)


def select_features(features: np.ndarray | Tensor, heads: np.ndarray, num_heads: int):
    """The columns of full-layout features that a subset probe uses.

    Parameters
    ----------
    features : ndarray or Tensor, shape=(..., num_layers * num_heads)
    heads : ndarray, shape=(n, 2)
    num_heads : int

    Returns
    -------
    same type as ``features``, shape=(..., n)
    """
    cols = head_columns(heads, num_heads)
    if isinstance(features, Tensor):
        return features[..., torch.as_tensor(cols, device=features.device)]
    return np.asarray(features)[..., cols]


class ContactProbe(ClassifierMixin, BaseEstimator):
    """L1-penalized logistic regression from attention-map features to contacts.

    Wraps :class:`sklearn.linear_model.LogisticRegression`; the defaults are
    Rao et al.'s (``penalty="l1"``, ``C=0.15``, ``solver="liblinear"``).

    Parameters
    ----------
    C : float, default=0.15
        Inverse regularization strength.
    penalty : {"l1", "l2"}, default="l1"
    solver : str, default="liblinear"
        Passed to ``LogisticRegression``.
    tol : float, default=1e-4
    max_iter : int, default=100
    class_weight : dict, "balanced" or None, default=None
    random_state : int, RandomState or None, default=None
    heads : array-like of shape (n_features, 2), default=None
        0-based ``(layer, head)`` of each feature column, for a probe over a
        subset of the maps. ``None``: the columns are all the maps in
        ``(layer head)`` order (or, without ``num_heads``, plain features).
    num_layers, num_heads : int, default=None
        The model's attention layout. ``num_heads`` is needed to place the
        coefficients on (layer, head); ``num_layers`` too when ``heads`` is given
        (it sets the width of the full layout).

    Attributes
    ----------
    coef_ : ndarray, shape=(1, n_features)
    intercept_ : ndarray, shape=(1,)
    classes_ : ndarray, shape=(2,)
    n_features_in_ : int
    n_iter_ : ndarray, shape=(1,)
    heads_ : ndarray, shape=(n_features, 2), or None
        0-based ``(layer, head)`` of each column; ``None`` when the layout is unknown.
    num_layers_, num_heads_ : int or None
        The full layout the probe belongs to.
    metadata_ : dict
        Plain record saved beside the weights (C, penalty, pairs seen, date;
        training code adds the model name and proteins).
    """

    def __init__(
        self,
        C: float = RAO_C,
        *,
        penalty: str = RAO_PENALTY,
        solver: str = RAO_SOLVER,
        tol: float = 1e-4,
        max_iter: int = 100,
        class_weight=None,
        random_state=None,
        heads=None,
        num_layers: int | None = None,
        num_heads: int | None = None,
    ):
        self.C = C
        self.penalty = penalty
        self.solver = solver
        self.tol = tol
        self.max_iter = max_iter
        self.class_weight = class_weight
        self.random_state = random_state
        self.heads = heads
        self.num_layers = num_layers
        self.num_heads = num_heads

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags

    # -- fitting --------------------------------------------------------------------------

    def fit(self, X, y, sample_weight=None) -> ContactProbe:
        """Fit on pair features.

        Parameters
        ----------
        X : array-like, shape=(n_pairs, n_features)
        y : array-like, shape=(n_pairs,)
            Two classes (contact / no contact).
        sample_weight : array-like, shape=(n_pairs,), optional
            E.g. the inverse sampling rate of subsampled negatives.
        """
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32])
        check_classification_targets(y)
        y_type = type_of_target(y, input_name="y", raise_unknown=True)
        if y_type != "binary":
            raise ValueError(
                f"Only binary classification is supported. The type of the target is {y_type}."
            )
        if len(np.unique(y)) < 2:
            raise ValueError(f"y has one class ({y[0]!r}); a probe needs contacts and non-contacts")
        if self.penalty not in _L1_RATIO:
            raise ValueError(f"penalty={self.penalty!r}; expected one of {sorted(_L1_RATIO)}")
        if not (isinstance(self.C, Real) and self.C > 0):
            raise ValueError(f"C={self.C!r} must be a positive number")
        heads, num_layers, num_heads = self._layout(X.shape[1])

        lr = self._make_regression()
        lr.fit(X, y, sample_weight=sample_weight)
        self.classes_ = lr.classes_
        self.coef_ = lr.coef_.copy()
        self.intercept_ = lr.intercept_.copy()
        self.n_iter_ = np.atleast_1d(lr.n_iter_).copy()
        self.heads_ = heads
        self.num_layers_ = num_layers
        self.num_heads_ = num_heads
        positive = y == lr.classes_[-1]
        self.metadata_ = {
            "C": float(self.C),
            "penalty": self.penalty,
            "solver": self.solver,
            "n_pairs": int(len(y)),
            "n_contacts": int(positive.sum()),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        }
        return self

    def _make_regression(self) -> LogisticRegression:
        common = dict(
            C=self.C,
            solver=self.solver,
            tol=self.tol,
            max_iter=self.max_iter,
            class_weight=self.class_weight,
            random_state=self.random_state,
        )
        if _LR_HAS_DEPRECATED_PENALTY:
            return LogisticRegression(l1_ratio=_L1_RATIO[self.penalty], **common)
        return LogisticRegression(penalty=self.penalty, **common)

    def _layout(self, n_features: int) -> tuple[np.ndarray | None, int | None, int | None]:
        """Check ``heads``/``num_layers``/``num_heads`` against the width of X."""
        num_layers, num_heads = self.num_layers, self.num_heads
        for name, value in (("num_layers", num_layers), ("num_heads", num_heads)):
            if value is not None and not (isinstance(value, (int, np.integer)) and value > 0):
                raise ValueError(f"{name}={value!r} must be a positive integer or None")
        if self.heads is None:
            if num_heads is None:
                if num_layers is not None:
                    raise ValueError("num_layers is given without num_heads")
                return None, None, None
            num_layers = layers_of(n_features, num_heads, num_layers, what=f"{n_features} features")
            return all_heads(num_layers, num_heads), int(num_layers), int(num_heads)

        if num_layers is None or num_heads is None:
            raise ValueError("a probe over a subset of heads needs num_layers and num_heads")
        heads = np.asarray(self.heads)
        if heads.ndim != 2 or heads.shape[1] != 2 or not np.issubdtype(heads.dtype, np.integer):
            raise ValueError(f"heads must be integer (layer, head) pairs, shape (n, 2); got {heads.shape}")
        heads = heads.astype(np.int64)
        if len(heads) != n_features:
            raise ValueError(f"{len(heads)} heads given for {n_features} feature columns")
        bad = (heads < 0).any(1) | (heads[:, 0] >= num_layers) | (heads[:, 1] >= num_heads)
        if bad.any():
            raise ValueError(
                f"head {tuple(heads[bad][0].tolist())} is outside the {num_layers} x {num_heads} layout "
                "(0-based layer, head)"
            )
        if len(np.unique(head_columns(heads, num_heads))) != len(heads):
            raise ValueError("heads contains duplicates")
        return heads, int(num_layers), int(num_heads)

    # -- prediction -----------------------------------------------------------------------

    def decision_function(self, X) -> np.ndarray:
        """Logits, shape=(n_pairs,)."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        return (X @ self.coef_[0] + self.intercept_[0]).astype(np.float64, copy=False)

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, shape=(n_pairs, 2); column 1 is the contact probability."""
        p = expit(self.decision_function(X))
        return np.stack([1.0 - p, p], axis=1)

    def predict(self, X) -> np.ndarray:
        """Labels, shape=(n_pairs,)."""
        check_is_fitted(self)
        return self.classes_[(self.decision_function(X) > 0).astype(int)]

    def contact_map(self, features: np.ndarray | Tensor) -> np.ndarray:
        """Contact probabilities for a whole map of pair features.

        Parameters
        ----------
        features : ndarray or Tensor, shape=(..., L, L, n_features)
            E.g. :func:`contacts.features.attention_features` (restricted with
            :func:`select_features` for a subset probe).

        Returns
        -------
        ndarray, shape=(..., L, L)
        """
        check_is_fitted(self)
        if isinstance(features, Tensor):
            features = features.detach().cpu().numpy()
        features = np.asarray(features)
        if features.shape[-1] != self.n_features_in_:
            raise ValueError(
                f"features have {features.shape[-1]} columns; the probe takes {self.n_features_in_}"
            )
        logits = features.astype(np.float64) @ self.coef_[0] + self.intercept_[0]
        return expit(logits)

    # -- layout ---------------------------------------------------------------------------

    @property
    def last_layer(self) -> int:
        """1-based number of the last layer with a non-zero coefficient (0 if none).

        The model can stop its forward pass there.
        """
        check_is_fitted(self)
        if self.heads_ is None:
            raise ValueError("the probe's layout is unknown: fit or load it with num_heads")
        used = self.heads_[self.coef_[0] != 0]
        return int(used[:, 0].max()) + 1 if len(used) else 0

    def nonzero_heads(self) -> np.ndarray:
        """0-based ``(layer, head)`` of the non-zero coefficients, shape=(n, 2)."""
        check_is_fitted(self)
        if self.heads_ is None:
            raise ValueError("the probe's layout is unknown: fit or load it with num_heads")
        return self.heads_[self.coef_[0] != 0]

    def coef_grid(self) -> np.ndarray:
        """Coefficients on the (layer, head) grid, zero where unused, shape=(num_layers, num_heads)."""
        weight = self.to_regression()[0].numpy()
        return rearrange(weight[0], "(l h) -> l h", h=self._require_layout()[1])

    def _require_layout(self) -> tuple[int, int]:
        check_is_fitted(self)
        if self.num_heads_ is None:
            raise ValueError("the probe's layout is unknown: fit or load it with num_heads")
        return self.num_layers_, self.num_heads_

    def to_regression(
        self, num_layers: int | None = None, num_heads: int | None = None
    ) -> tuple[Tensor, Tensor]:
        """The probe as fair-esm's regression: full-layout weight and bias.

        Parameters
        ----------
        num_layers, num_heads : int, optional
            Target layout; default: the probe's own. A model with more layers
            than the probe's layout gets zeros for the extra layers.

        Returns
        -------
        weight : Tensor, shape=(1, num_layers * num_heads), float32
        bias : Tensor, shape=(1,), float32
        """
        check_is_fitted(self)
        bias = torch.tensor(self.intercept_, dtype=torch.float32).reshape(1)
        if self.heads_ is None:
            width = self.n_features_in_
            if num_heads is not None and num_layers is not None and num_layers * num_heads != width:
                raise ValueError(
                    f"the probe has {width} coefficients; the layout {num_layers} x {num_heads} "
                    f"needs {num_layers * num_heads}"
                )
            return torch.tensor(self.coef_, dtype=torch.float32).reshape(1, width), bias
        num_layers = self.num_layers_ if num_layers is None else num_layers
        num_heads = self.num_heads_ if num_heads is None else num_heads
        if num_heads != self.num_heads_:
            raise ValueError(f"the probe has {self.num_heads_} heads per layer, not {num_heads}")
        if num_layers < self.last_layer:
            raise ValueError(
                f"the probe uses layer {self.last_layer} (1-based); the model has {num_layers}"
            )
        weight = np.zeros(num_layers * num_heads, dtype=np.float64)
        used = self.coef_[0] != 0
        weight[head_columns(self.heads_[used], num_heads)] = self.coef_[0][used]
        return torch.tensor(weight, dtype=torch.float32).reshape(1, -1), bias

    # -- exchange -------------------------------------------------------------------------

    def save(self, path: str | Path, *, metadata: Mapping[str, Any] | None = None,
             trained_for: Mapping[str, Any] | None = None) -> Path:
        """Write the probe in fair-esm's contact-regression layout.

        ``{"model": {WEIGHT_KEY: (1, l*h), BIAS_KEY: (1,)}, "probe": {...}}``. fair-esm
        reads only ``"model"`` (it merges it into the model's state dict), so the
        file drops in beside a fair-esm checkpoint as ``<name>-contact-regression.pt``.
        The ``"probe"`` record holds plain values only (loadable with
        ``weights_only=True``): layout, heads used, C, and whatever ``metadata``
        adds (model name, training proteins, ...). ``trained_for`` names the model
        (``Predictor.identity()``: name, weights hash, layers x heads); a model that
        is not that one refuses the file (:func:`use_probe`, ``load_model(regression=)``).
        """
        check_is_fitted(self)
        weight, bias = self.to_regression()
        record: dict[str, Any] = {"format_version": FORMAT_VERSION, **self.metadata_}
        record.update(
            num_layers=self.num_layers_,
            num_heads=self.num_heads_,
            heads=None if self.heads_ is None else self.heads_.tolist(),
            C=float(self.C),
            penalty=self.penalty,
        )
        if metadata:
            record.update(_plain(dict(metadata)))
        if trained_for is not None:
            if (trained_for.get("num_layers"), trained_for.get("num_heads")) != (self.num_layers_, self.num_heads_):
                raise ValueError(f"trained_for names {trained_for.get('num_layers')} x {trained_for.get('num_heads')} "
                                 f"heads; the probe's layout is {self.num_layers_} x {self.num_heads_}")
            record[TRAINED_FOR] = _plain({k: trained_for[k] for k in ("name", "weights_sha256", "num_layers",
                                                                       "num_heads")})
        return write_regression(path, weight, bias, record)

    @classmethod
    def load(cls, path: str | Path, *, num_heads: int | None = None) -> ContactProbe:
        """Read a regression file: one written by :meth:`save`, or fair-esm's released one.

        Parameters
        ----------
        path : str or Path
        num_heads : int, optional
            Heads per layer, to place a file without metadata on (layer, head)
            (20 for ESM-1b's released regression). Ignored when the file says.

        The file is read with ``torch.load(weights_only=True)``, allowing only
        ``argparse.Namespace`` beyond tensors and containers (as the model loader
        does; fairseq-era files carry one).

        Raises
        ------
        ProbeFileError
            Not a regression file: refused by the safe unpickler, missing
            or unexpected keys, or wrong shapes.
        """
        try:
            regression = read_regression(path)
        except CheckpointError as err:
            raise ProbeFileError(str(err)) from None
        return cls._from_regression_file(regression, num_heads)

    @classmethod
    def from_state(
        cls, data: Mapping, *, num_heads: int | None = None, source: str = "state"
    ) -> ContactProbe:
        """Build a fitted probe from a loaded regression file (see :meth:`load`)."""
        return cls._from_regression_file(regression_from_state(data, source=source), num_heads)

    @classmethod
    def _from_regression_file(cls, regression, num_heads: int | None) -> ContactProbe:
        source = regression.source
        weight, bias = regression.weight.double(), regression.bias.double()
        weight_np, width = weight.numpy()[0], weight.shape[1]
        meta = dict(regression.metadata)
        num_heads = meta.get("num_heads") or num_heads
        num_layers = meta.get("num_layers")
        if num_heads is not None:
            num_layers = layers_of(width, num_heads, num_layers, what=f"{source}: {width} coefficients",
                                   error=ProbeFileError)
        heads = meta.get("heads")
        if heads is not None:
            if num_heads is None:
                raise ProbeFileError(f"{source}: the record lists heads but no num_heads")
            heads = np.asarray(heads, dtype=np.int64).reshape(-1, 2)
            cols = head_columns(heads, num_heads)
            outside = np.ones(width, dtype=bool)
            outside[cols] = False
            if np.any(weight_np[outside] != 0):
                raise ProbeFileError(
                    f"{source}: {int(np.count_nonzero(weight_np[outside]))} non-zero coefficients "
                    "lie outside the heads the record lists"
                )
            coef = weight_np[cols]
        else:
            coef = weight_np
        subset = heads is not None and len(heads) != width
        probe = cls(
            C=float(meta.get("C", RAO_C)),
            penalty=meta.get("penalty", RAO_PENALTY),
            heads=heads.tolist() if subset else None,
            num_layers=num_layers if num_heads is not None else None,
            num_heads=num_heads,
        )
        if heads is None and num_heads is not None:
            heads = all_heads(num_layers, num_heads)
        probe.coef_ = coef.reshape(1, -1)
        probe.intercept_ = bias.numpy().reshape(1)
        probe.classes_ = np.array([0, 1])
        probe.n_features_in_ = probe.coef_.shape[1]
        probe.n_iter_ = np.zeros(1, dtype=np.int32)
        probe.heads_ = heads
        probe.num_layers_ = num_layers if num_heads is not None else None
        probe.num_heads_ = num_heads
        probe.metadata_ = {k: v for k, v in meta.items() if k not in ("heads",)}
        return probe

    @classmethod
    def from_regression(
        cls, weight: Tensor, bias: Tensor, *, num_heads: int | None = None
    ) -> ContactProbe:
        """A probe from a weight (1, l*h) and bias (1,), e.g. a predictor's ``.regression``."""
        return cls.from_state({"model": {WEIGHT_KEY: weight, BIAS_KEY: bias}}, num_heads=num_heads)


def use_probe(predictor: ContactModel, probe: ContactProbe | str | Path) -> None:
    """Make a predictor predict contacts with this probe (or the probe file at this path).

    The probe is expanded to the predictor's full ``(1, layers * heads)`` layout;
    the predictor then stops its forward pass after the last layer the probe uses.

    Raises
    ------
    ProbeMismatchError
        The probe's record names another model (name, weights hash, layers x heads).
    """
    cfg = predictor.config
    source = "the probe"
    if not isinstance(probe, ContactProbe):
        source = str(probe)
        probe = ContactProbe.load(probe, num_heads=cfg.num_heads)
    check_trained_for(probe.metadata_, predictor.identity(lazy=True), source)
    if probe.num_heads_ is None:
        probe = ContactProbe.from_regression(*probe.to_regression(), num_heads=cfg.num_heads)
    predictor.set_regression(*probe.to_regression(cfg.num_layers, cfg.num_heads))


def probe_of(predictor: ContactModel) -> ContactProbe:
    """The predictor's current contact regression as a fitted :class:`ContactProbe`."""
    if predictor.regression is None:
        raise ValueError("the predictor has no contact regression")
    return ContactProbe.from_regression(*predictor.regression, num_heads=predictor.config.num_heads)


def _plain(value: Any) -> Any:
    """Metadata as values ``torch.load(weights_only=True)`` accepts: str, numbers, lists, dicts."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(v) for v in (value.tolist() if isinstance(value, np.ndarray) else value)]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (Path, datetime.date)):
        return str(value)
    raise TypeError(f"metadata value {value!r} of type {type(value).__name__} is not a plain value")
