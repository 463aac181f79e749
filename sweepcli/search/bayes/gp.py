"""The surrogate model behind ``method: bayes``: a Gaussian process and its acquisition.

scikit-optimize transforms points to columns (reals and ints scaled to [0, 1],
categoricals one-hot); everything from there is this file's (measurements:
``docs/decisions/bayes.md``):

* **Kernel**: Matern 5/2, one length scale per parameter (a one-hot group counts as one
  parameter: distance 0 when two points agree, 1 when they differ).
* **Values**: values worse than the median by more than two interquartile ranges are
  clipped there before standardising, so one diverged run does not flatten the model.
* **Hyperparameters**: maximum a posteriori with weak priors (Optuna's GP sampler's):
  plain likelihood with 10-40 points often explains a smooth objective away as noise.
* **Acquisition**: log expected improvement (a gradient where EI underflows), maximised
  from the best of 2,048 quasi-random candidates and the best run so far by gradient
  steps over continuous inputs alternating with passes over each discrete parameter.
  Never a point already run or being run: when the best is one (a search that converged
  in a corner of the space asked for its incumbent again and again), the nearest point
  off it on the way to the best new candidate.
* **Prior mean**: the worst value seen, not the mean, where the model has seen nothing
  (``prior_mean="mean"`` for one agent with several objectives: ``acquisition._model_choice``).
* **Agents at once** (chosen in ``acquisition.py``): ``believe`` conditions the model on runs
  still going; ``exploit`` finds the minimum of its mean by the same search.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.linalg import cho_factor, cho_solve
from scipy.optimize import fmin_l_bfgs_b, minimize
from scipy.special import erfcx, log_ndtr, ndtr
from sklearn.base import BaseEstimator, RegressorMixin

MIN_NOISE = 1e-6  # on the standardised scale
CLIP_IQR = 2.0  # values worse than the median + 2 interquartile ranges are clipped there
ACQ_VAR_FLOOR = 1e-12
N_PRELIMINARY = 2048
N_LOCAL_SEARCH = 10
MAX_EXHAUSTIVE_INT = 64  # ints with more values are searched as continuous, rounded after
_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)
EXPLOIT_PENDING_R2 = 0.01  # a pending run this close (scaled squared distance) is "there"
EXPLOIT_ENDED_R2 = 1e-4
#: expected improvement's best at a point already run or being run (this close in scaled
#: squared distance: the same point to the model) is moved off it, next to it; for
#: benchmarks ``SWEEPCLI_BAYES_REPEAT=0`` lets it repeat, as before (docs/decisions/bayes.md)
REPEAT_R2 = float(os.environ.get("SWEEPCLI_BAYES_REPEAT", "1e-6") or 0)


@dataclass
class Layout:
    """How the transformed columns group into parameters, and how each is searched."""

    n_cols: int
    membership: np.ndarray  # (n_cols, n_params): 1 where a column belongs to a parameter
    col_weight: np.ndarray  # (n_cols,): 0.5 for a one-hot column (two differ per change)
    gradient_cols: np.ndarray  # columns searched by gradient steps
    discrete: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    # each discrete parameter: (its columns, its options as rows of those columns)

    @classmethod
    def from_space(cls, space: Any) -> Layout:
        from skopt.space import Categorical, Integer

        n_cols = space.transformed_n_dims
        membership = np.zeros((n_cols, len(space.dimensions)))
        weight = np.ones(n_cols)
        grad: list[int] = []
        discrete: list[tuple[np.ndarray, np.ndarray]] = []
        col = 0
        for j, dim in enumerate(space.dimensions):
            size = dim.transformed_size
            cols = np.arange(col, col + size)
            membership[cols, j] = 1.0
            if isinstance(dim, Categorical):
                if size > 1:
                    weight[cols] = 0.5
                    options = np.eye(size)
                else:
                    options = np.array([[0.0], [1.0]])
                discrete.append((cols, options))
            elif isinstance(dim, Integer) and dim.high - dim.low + 1 <= MAX_EXHAUSTIVE_INT:
                values = np.arange(dim.low, dim.high + 1)
                discrete.append((cols, np.asarray(dim.transform(values), float).reshape(-1, 1)))
            else:
                grad.extend(cols)
            col += size
        return cls(n_cols, membership, weight, np.array(grad, dtype=int), discrete)


def _matern(r2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Matern 5/2 of a squared scaled distance, and its derivative with respect to r2."""
    r = np.sqrt(5.0 * r2)
    e = np.exp(-r)
    return e * ((5.0 / 3.0) * r2 + r + 1.0), (-5.0 / 6.0) * (r + 1.0) * e


def _prior(theta: np.ndarray, n_params: int) -> tuple[float, np.ndarray]:
    """Log prior density of the hyperparameters and its gradient in theta.

    Inverse squared length scales: exp(-0.1 (1/l + l)), peaked at 1 (the unit cube's size);
    amplitude: Gamma(2, 1); noise: Gamma(1.1, 30). These are Optuna's; a prior peaked at
    shorter length scales (0.3, 0.5) and BoTorch's dimension-scaled log-normal (Hvarfner et
    al.) were measured on Hartmann6 (20 seeds) and did not do better beyond seed noise.
    """
    ils = np.exp(theta[:n_params])
    scale = math.exp(theta[n_params])
    extra = math.exp(theta[n_params + 1])
    noise = extra + MIN_NOISE
    value = float(-(0.1 / ils + 0.1 * ils).sum() + (math.log(scale) - scale)
                  + (0.1 * math.log(noise) - 30.0 * noise))
    g = np.empty_like(theta)
    g[:n_params] = 0.1 / ils - 0.1 * ils
    g[n_params] = 1.0 - scale
    g[n_params + 1] = extra * (0.1 / noise - 30.0)
    return value, g


def fit_hyperparameters(X: np.ndarray, z: np.ndarray, layout: Layout) -> np.ndarray:
    """MAP kernel hyperparameters, as [log inverse squared length scales..., log amplitude,
    log(noise - MIN_NOISE)], for standardised values ``z``."""
    n = len(z)
    n_params = layout.membership.shape[1]
    diff2 = (X[:, None, :] - X[None, :, :]) ** 2 * layout.col_weight
    D2 = diff2 @ layout.membership  # (n, n, n_params)
    eye = np.eye(n)

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        ils = np.exp(theta[:n_params])
        scale = math.exp(theta[n_params])
        extra = math.exp(theta[n_params + 1])
        noise = extra + MIN_NOISE
        m, dm = _matern(D2 @ ils)
        Kf = scale * m
        try:
            c = cho_factor(Kf + noise * eye, lower=True)
        except np.linalg.LinAlgError:
            return 1e25, np.zeros_like(theta)
        alpha = cho_solve(c, z)
        Kinv = cho_solve(c, eye)
        lml = -0.5 * z @ alpha - np.log(np.diag(c[0])).sum() - n * _LOG_SQRT_2PI
        A = np.outer(alpha, alpha) - Kinv
        g = np.empty_like(theta)
        g[:n_params] = 0.5 * ils * np.einsum("ij,ijk->k", A * (scale * dm), D2)
        g[n_params] = 0.5 * (A * Kf).sum()
        g[n_params + 1] = 0.5 * extra * np.trace(A)
        prior, gp = _prior(theta, n_params)
        g += gp
        value = -(lml + prior)
        if not np.isfinite(value) or not np.all(np.isfinite(g)):
            return 1e25, np.zeros_like(theta)
        return float(value), -g

    start = np.zeros(n_params + 2)
    start[n_params + 1] = math.log(1.0 - 0.99 * MIN_NOISE)
    bounds = [(-12.0, 12.0)] * (n_params + 1) + [(-30.0, 3.0)]
    res = minimize(loss, start, jac=True, method="L-BFGS-B", bounds=bounds, options={"gtol": 1e-2})
    return res.x if np.all(np.isfinite(res.x)) and res.fun < 1e25 else start


class SweepGP(RegressorMixin, BaseEstimator):
    """A scikit-learn regressor (so scikit-optimize can fit it) over transformed points."""

    def __init__(self, layout: Layout | None = None, fit_max: int = 150, random_state: int = 0,
                 project: Any = None, prior_mean: str = "worst"):
        self.layout = layout
        self.fit_max = fit_max
        self.random_state = random_state
        #: conditional parameters: a candidate's inactive columns are set apart before the
        #: model looks at it (see bayes.Encoding.projector); None without conditions
        self.project = project
        #: what the model expects where it has seen nothing: "worst" (the worst value, after
        #: clipping; see the module's docstring) or "mean" (the mean of the values)
        self.prior_mean = prior_mean

    def fit(self, X: Any, y: Any) -> SweepGP:
        assert self.layout is not None
        X = np.asarray(X, dtype=float)
        y = np.asarray(y, dtype=float)
        finite = np.isfinite(y)
        if not finite.all():  # clip to the finite range (Optuna does the same)
            lo, hi = (y[finite].min(), y[finite].max()) if finite.any() else (0.0, 0.0)
            y = np.clip(np.nan_to_num(y, nan=hi), lo, hi)
        q1, median, q3 = np.percentile(y, [25, 50, 75])
        if q3 > q1:  # diverged runs are bad, not extreme: they must not flatten the rest
            y = np.minimum(y, median + CLIP_IQR * (q3 - q1))
        self.y_mean_ = float(y.max() if self.prior_mean == "worst" else y.mean())
        self.y_std_ = float(y.std()) or 1.0
        z = (y - self.y_mean_) / self.y_std_
        idx = np.arange(len(z))
        if len(z) > self.fit_max:  # hyperparameters from the best third and a random spread
            idx = best_and_spread(z, self.fit_max, np.random.default_rng(self.random_state))
        theta = fit_hyperparameters(X[idx], z[idx], self.layout)
        n_params = self.layout.membership.shape[1]
        self.ils_ = np.exp(theta[:n_params])
        self.scale_ = math.exp(theta[n_params])
        self.noise_ = math.exp(theta[n_params + 1]) + MIN_NOISE
        self.col_ils_ = (self.layout.membership @ self.ils_) * self.layout.col_weight
        self.X_ = X
        self.z_ = z
        K = self.scale_ * _matern(self._r2(X))[0]
        c = _cholesky(K, self.noise_)
        self.Kinv_ = cho_solve(c, np.eye(len(z)))
        self.alpha_ = self.Kinv_ @ z
        self.z_best_ = float(z.min())
        self.x_best_ = X[int(np.argmin(z))]
        self.n_observed_ = len(z)
        return self

    def believe(self, Xp: np.ndarray) -> None:
        """Kriging believer: condition on points still being evaluated (other agents' runs)
        at this model's own mean there, as if observed. The hyperparameters stay those of
        the real observations; the variance near a pending point drops and its believed
        value joins the incumbent, so expected improvement no longer points at it, nor at
        its close neighbours."""
        if not len(Xp):
            return
        mean, _ = self.posterior(Xp)
        self.X_ = np.vstack([self.X_, Xp])
        self.z_ = np.concatenate([self.z_, mean])
        K = self.scale_ * _matern(self._r2(self.X_))[0]
        c = _cholesky(K, self.noise_)
        self.Kinv_ = cho_solve(c, np.eye(len(self.z_)))
        self.alpha_ = self.Kinv_ @ self.z_
        # a believed value counts as found: improving on it is what a new point must do
        self.z_best_ = min(self.z_best_, float(mean.min()))

    def _r2(self, Xq: np.ndarray) -> np.ndarray:
        v = self.col_ils_
        r2 = ((Xq**2) @ v)[:, None] + ((self.X_**2) @ v)[None, :] - 2.0 * (Xq * v) @ self.X_.T
        return np.maximum(r2, 0.0)

    def posterior(self, Xq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and variance of the latent function, standardised scale."""
        k = self.scale_ * _matern(self._r2(Xq))[0]
        mean = k @ self.alpha_
        var = self.scale_ - np.einsum("ij,ij->i", k @ self.Kinv_, k)
        return mean, np.maximum(var, 0.0)

    def predict(self, X: Any, return_std: bool = False) -> Any:
        mean, var = self.posterior(np.asarray(X, dtype=float))
        mean = mean * self.y_std_ + self.y_mean_
        if return_std:
            return mean, np.sqrt(var) * self.y_std_
        return mean

    # --- the acquisition -------------------------------------------------------------

    def constrain(self, limits: list[tuple[SweepGP, float | None, float | None]],
                  feasible: np.ndarray) -> None:
        """Outcome constraints (``sweepcli.constraints``): each a model of a constrained
        metric (fitted to the values runs logged) with its [min, max]; the acquisition
        becomes log EI + log P(feasible) (Gardner et al. 2014), with the best *feasible*
        value as the incumbent, or P(feasible) alone while no run is feasible. ``feasible``:
        which of the observations kept every limit."""
        self.limits_ = []
        for model, lo, hi in limits:  # the bounds on each model's standardised scale
            self.limits_.append((model, *((None if v is None else (v - model.y_mean_) / model.y_std_)
                                          for v in (lo, hi))))
        ok = np.asarray(feasible, dtype=bool)[:len(self.z_)]
        self.pof_only_ = not ok.any()
        if ok.any():
            self.z_best_ = float(self.z_[:len(ok)][ok].min())
            self.x_best_ = self.X_[:len(ok)][ok][int(np.argmin(self.z_[:len(ok)][ok]))]

    def _log_pof(self, Xq: np.ndarray) -> np.ndarray:
        total = np.zeros(len(Xq))
        for model, lo, hi in getattr(self, "limits_", ()):
            mean, var = model.posterior(Xq)
            sigma = np.sqrt(var + ACQ_VAR_FLOOR)
            if hi is not None:
                total += log_ndtr((hi - mean) / sigma)
            if lo is not None:
                total += log_ndtr((mean - lo) / sigma)
        return total

    def _log_pof_grad(self, x: np.ndarray, cols: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad = 0.0, np.zeros(len(cols))
        for model, lo, hi in getattr(self, "limits_", ()):
            mean, sigma, dmean, dsigma = model._mean_sigma_grad(x, cols)
            for bound, sign in ((hi, 1.0), (lo, -1.0)):
                if bound is None:
                    continue
                z = sign * (bound - mean) / sigma
                dz = (-sign * dmean - z * dsigma) / sigma
                log_cdf = float(log_ndtr(z))
                value += log_cdf
                grad += math.exp(-0.5 * z * z - 0.5 * math.log(2 * math.pi) - log_cdf) * dz
        return value, grad

    def _mean_sigma_grad(self, x: np.ndarray, cols: np.ndarray
                         ) -> tuple[float, float, np.ndarray, np.ndarray]:
        k, dk = self._kernel_and_slope(x, cols)
        Kk = self.Kinv_ @ k
        mean = float(k @ self.alpha_)
        sigma = math.sqrt(max(float(self.scale_ - k @ Kk), 0.0) + ACQ_VAR_FLOOR)
        return mean, sigma, self.alpha_ @ dk, -(Kk @ dk) / sigma

    def log_ei(self, Xq: np.ndarray) -> np.ndarray:
        if self.project is not None:
            Xq = self.project(Xq)
        if getattr(self, "limits_", None):
            if self.pof_only_:
                return self._log_pof(Xq)
            mean, var = self.posterior(Xq)
            sigma = np.sqrt(var + ACQ_VAR_FLOOR)
            return np.log(sigma) + _log_h((self.z_best_ - mean) / sigma) + self._log_pof(Xq)
        mean, var = self.posterior(Xq)
        sigma = np.sqrt(var + ACQ_VAR_FLOOR)
        return np.log(sigma) + _log_h((self.z_best_ - mean) / sigma)

    def neg_mean(self, Xq: np.ndarray) -> np.ndarray:
        """Minus the posterior mean: what pure exploitation maximises."""
        if self.project is not None:
            Xq = self.project(Xq)
        return -(self.scale_ * _matern(self._r2(Xq))[0]) @ self.alpha_

    def log_ei_grad(self, x: np.ndarray, cols: np.ndarray) -> tuple[float, np.ndarray]:
        """log EI at one point and its gradient with respect to the columns ``cols``."""
        return self._with_projection(self._log_ei_grad, x, cols)

    def neg_mean_grad(self, x: np.ndarray, cols: np.ndarray) -> tuple[float, np.ndarray]:
        return self._with_projection(self._neg_mean_grad, x, cols)

    def _with_projection(self, f: Any, x: np.ndarray, cols: np.ndarray
                         ) -> tuple[float, np.ndarray]:
        if self.project is not None:
            px = self.project(x[None, :])[0]
            value, grad = f(px, cols)
            return value, np.where(px[cols] != x[cols], 0.0, grad)  # inactive: no slope
        return f(x, cols)

    def _kernel_and_slope(self, x: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """k(x, X) and its derivative with respect to the columns ``cols``, (n,) and (n, c)."""
        diff = x[None, :] - self.X_  # (n, n_cols)
        r2 = (diff**2) @ self.col_ils_
        m, dm = _matern(r2)
        k = self.scale_ * m
        dk = (2.0 * self.scale_ * dm)[:, None] * diff[:, cols] * self.col_ils_[cols]
        return k, dk

    def _neg_mean_grad(self, x: np.ndarray, cols: np.ndarray) -> tuple[float, np.ndarray]:
        k, dk = self._kernel_and_slope(x, cols)
        return -float(k @ self.alpha_), -(self.alpha_ @ dk)

    def _log_ei_grad(self, x: np.ndarray, cols: np.ndarray) -> tuple[float, np.ndarray]:
        k, dk = self._kernel_and_slope(x, cols)
        Kk = self.Kinv_ @ k
        mean = float(k @ self.alpha_)
        var = max(float(self.scale_ - k @ Kk), 0.0) + ACQ_VAR_FLOOR
        sigma = math.sqrt(var)
        dmean = self.alpha_ @ dk
        dsigma = -(Kk @ dk) / sigma
        u = (self.z_best_ - mean) / sigma
        log_h, dlog_h = _log_h_and_grad(u)
        du = (-dmean - u * dsigma) / sigma
        if getattr(self, "limits_", None):
            pof, dpof = self._log_pof_grad(x, cols)
            if self.pof_only_:
                return pof, dpof
            return math.log(sigma) + log_h + pof, dsigma / sigma + dlog_h * du + dpof
        return math.log(sigma) + log_h, dsigma / sigma + dlog_h * du

    def exploit(self, rng: np.random.Generator) -> np.ndarray | None:
        """The point where the model expects the best value (the minimum of its mean), unless
        a run still going or an ended run is already there (a pending run within correlation
        0.99 of it, an ended one within 0.9999): for agents at once, see acquisition.py."""
        x = self.propose(rng, exploit=True)
        px = self.project(x[None, :])[0] if self.project is not None else x

        def nearest(A: np.ndarray) -> float:
            return float(((A - px) ** 2 @ self.col_ils_).min()) if len(A) else math.inf

        n = self.n_observed_
        if nearest(self.X_[n:]) <= EXPLOIT_PENDING_R2 or nearest(self.X_[:n]) <= EXPLOIT_ENDED_R2:
            return None
        return x

    def propose(self, rng: np.random.Generator, exploit: bool = False) -> np.ndarray:
        """The point (transformed columns) that maximises log EI (with ``exploit``, minus the
        posterior mean)."""
        from scipy.stats import qmc

        layout = self.layout
        assert layout is not None
        n = N_PRELIMINARY
        cand = np.empty((n, layout.n_cols))
        u = qmc.Sobol(d=len(layout.gradient_cols) + len(layout.discrete), scramble=True,
                      seed=rng).random(n)
        cand[:, layout.gradient_cols] = u[:, :len(layout.gradient_cols)]
        for j, (cols, options) in enumerate(layout.discrete):
            pick = np.minimum((u[:, len(layout.gradient_cols) + j] * len(options)).astype(int),
                              len(options) - 1)
            cand[:, cols] = options[pick]
        values = self.neg_mean(cand) if exploit else self.log_ei(cand)
        best = int(np.argmax(values))
        probs = np.exp(values - values[best])
        probs[best] = 0.0
        starts = [cand[best], np.clip(self.x_best_, 0.0, 1.0)]
        n_more = min(N_LOCAL_SEARCH - len(starts), int(np.count_nonzero(probs > 0)))
        if n_more > 0:
            starts.extend(cand[rng.choice(n, size=n_more, replace=False, p=probs / probs.sum())])
        best_x, best_v = cand[best], float(values[best])
        found = []
        for x0 in starts:
            x, v = self._local_search(np.array(x0, dtype=float), exploit)
            found.append((x, v))
            if v > best_v:
                best_x, best_v = x, v
        if not exploit and REPEAT_R2 > 0 and self.near_known(best_x[None, :])[0]:
            # the best is a point already run (or being run): nothing is learnt there, so
            # step off it toward the best of the candidates that are new
            pool = np.vstack([cand] + [x[None, :] for x, _ in found])
            scores = np.concatenate([values, [v for _, v in found]])
            new = ~self.near_known(pool)
            if new.any():
                best_x = self._step_off(best_x, pool[int(np.argmax(np.where(new, scores, -np.inf)))])
        return best_x

    def _step_off(self, known: np.ndarray, new: np.ndarray) -> np.ndarray:
        """The point nearest ``known`` on the way to ``new`` (continuous inputs moved, the
        discrete ones kept where ``known`` has them) that is no longer a point the model was
        given: refinement next to the incumbent rather than a repeat of it. ``new`` itself
        when moving the continuous inputs cannot leave ``known`` (a discrete space)."""
        cols = self.layout.gradient_cols if self.layout is not None else np.arange(len(new))
        step = known.copy()
        step[cols] = new[cols]
        if self.near_known(step[None, :])[0]:
            return new
        lo, hi = 0.0, 1.0
        for _ in range(40):
            mid = 0.5 * (lo + hi)
            step[cols] = known[cols] + mid * (new[cols] - known[cols])
            lo, hi = (mid, hi) if self.near_known(step[None, :])[0] else (lo, mid)
        step[cols] = known[cols] + hi * (new[cols] - known[cols])
        return step

    def near_known(self, Xq: np.ndarray) -> np.ndarray:
        """Whether each point is (all but) one the model was given: ended or believed."""
        P = self.project(Xq) if self.project is not None else Xq
        return np.asarray(self._r2(P).min(axis=1) <= REPEAT_R2)

    def _local_search(self, x: np.ndarray, exploit: bool = False, max_rounds: int = 20
                      ) -> tuple[np.ndarray, float]:
        layout = self.layout
        assert layout is not None
        if exploit:
            acq, acq_grad = self.neg_mean, self.neg_mean_grad
        else:
            acq, acq_grad = self.log_ei, self.log_ei_grad
        value = float(acq(x[None, :])[0])
        cols = layout.gradient_cols
        scales = 1.0 / np.sqrt(self.col_ils_[cols]) if len(cols) else np.empty(0)
        last: int | None = None  # the part that changed last: -1 the continuous inputs
        for _ in range(max_rounds):
            if last == -1:  # a whole pass since the continuous step changed nothing
                return x, value
            if len(cols):
                def neg(s: np.ndarray, x: np.ndarray = x) -> tuple[float, np.ndarray]:
                    y = x.copy()
                    y[cols] = s * scales
                    v, g = acq_grad(y, cols)
                    return -v, -g * scales

                s, f, info = fmin_l_bfgs_b(neg, x[cols] / scales, bounds=[(0.0, 1.0 / c) for c in scales],
                                           pgtol=1e-2, maxiter=200)
                if -f > value and info["nit"] > 0:
                    x = x.copy()
                    x[cols] = np.clip(s * scales, 0.0, 1.0)
                    value, last = -float(f), -1
            for j, (dcols, options) in enumerate(layout.discrete):
                if last == j:  # a whole pass since this one changed nothing
                    return x, value
                trial = np.repeat(x[None, :], len(options), axis=0)
                trial[:, dcols] = options
                vals = acq(trial)
                i = int(np.argmax(vals))
                if vals[i] > value:
                    x, value, last = trial[i], float(vals[i]), j
            if last is None:
                return x, value
        return x, value


def best_and_spread(values: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """Indexes of ``size`` values: the best (lowest) third and a random spread of the rest."""
    order = np.argsort(values)
    n_best = size // 3
    return np.concatenate([order[:n_best], rng.choice(order[n_best:], size - n_best, replace=False)])


def _cholesky(K: np.ndarray, jitter: float) -> Any:
    """Cholesky of K + jitter I; repeated points (a discrete space run out) can need more."""
    eye = np.eye(len(K))
    for _ in range(8):
        try:
            return cho_factor(K + jitter * eye, lower=True)
        except np.linalg.LinAlgError:
            jitter *= 10.0
    return cho_factor(K + jitter * eye, lower=True)


def _log_h(u: np.ndarray) -> np.ndarray:
    """log(u * Phi(u) + phi(u)), the standard normal's expected improvement, stably."""
    u = np.asarray(u, dtype=float)
    out = np.empty_like(u)
    big = u > -1.0
    ub = u[big]
    out[big] = np.log(ub * ndtr(ub) + np.exp(-0.5 * ub**2 - _LOG_SQRT_2PI))
    us = u[~big]
    r = math.sqrt(0.5 * math.pi) * erfcx(-us / math.sqrt(2.0))  # Phi(u) / phi(u)
    out[~big] = -0.5 * us**2 - _LOG_SQRT_2PI + np.log(np.maximum(1.0 + us * r, 1e-300))
    far = us < -1e4
    if far.any():  # 1 + u r loses its digits: the asymptote log(phi(u) / u^2)
        sub = out[~big]
        sub[far] = -0.5 * us[far] ** 2 - _LOG_SQRT_2PI - 2.0 * np.log(-us[far])
        out[~big] = sub
    return out


def _log_h_and_grad(u: float) -> tuple[float, float]:
    """log h(u) and d log h / du = Phi(u) / h(u)."""
    log_h = float(_log_h(np.array([u]))[0])
    return log_h, math.exp(float(log_ndtr(u)) - log_h)
