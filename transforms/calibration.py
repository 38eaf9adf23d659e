"""Calibrate establishment employment on URSSAF's totals: the Gaussian posterior of a sum-constrained estimate.

Each establishment i has a prior headcount with mean m_i and variance v_i (transforms/employment.py). URSSAF
publishes sums of the true headcounts over known groups, each with its own error:
- disjoint "cells" c (a commune × APE cell, or a commune's pool of establishments URSSAF files under activities
  SIRENE gives them no employer in): y_c = Σ_{i∈c} h_i + ε_c, Var ε_c = w_c;
- disjoint "families" f (the département's ESS families and the rest of the private field): y_f = Σ_{i∈f} h_i + η_f,
  Var η_f = w_f. A cell may hold establishments of several families.
With independent Gaussian priors, the posterior mean is m + V A' (A V A' + W)⁻¹ (y − A m): each establishment moves
in proportion to its own variance, so a large uncertain establishment absorbs more of a cell's gap than a small
well-known one, and a cell whose members are all well known hardly moves. Cells are disjoint, so A V A' is
diagonal on cells (D_c = V_c + w_c) and the family part is solved on a tiny Schur complement
S = F − B D⁻¹ B' (B_fc = Σ_{i∈f∩c} v_i, F_f = V_f + w_f).

The posterior variance of any sum a'h (a cube cell) is
    a'Va − x' D⁻¹ x − (B D⁻¹ x − z)' S⁻¹ (B D⁻¹ x − z),   x_c = Σ_{i∈a∩c} v_i,  z_f = Σ_{i∈a∩f} v_i,
which is a sum over the establishments of a once S⁻¹ = L L' is factored: each establishment carries
u_i = v_i (b_{·,c(i)} − 1[f(i) = ·]) with b_fc = B_fc / D_c, and e_i = L' u_i; then the last term is |Σ_{i∈a} e_i|².
The middle term, Σ_c x_c² / D_c, depends on which members of each cell the sum takes; the cube computes it
(sql/out/out_cube_etablissements.sql) from v_i and D_c. solve() returns everything the cube needs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Posterior:
    mean: np.ndarray  # posterior mean of each establishment, negative values set to 0 (see `clipped`)
    denominator: np.ndarray  # D_c of the establishment's cell (NaN when it has none)
    projections: np.ndarray  # (n, n_families) e_i
    cell_mean: np.ndarray  # Σ of posterior means per cell (before clipping), per cell index
    family_mean: np.ndarray  # per family
    clipped: int  # establishments whose posterior mean was negative
    s_inverse: np.ndarray  # S⁻¹ (n_families, n_families)
    raw: np.ndarray  # posterior mean before setting negative values to 0
    variance: np.ndarray | None = None  # prior variances used (solve_non_negative sets those fixed at 0 to 0)


def solve(m, v, cell, y_cell, w_cell, family, y_family, w_family) -> Posterior:
    """Posterior of establishment headcounts given cell and family sums.

    m, v: prior means and variances (n,). cell: index of the establishment's cell in y_cell (−1: none).
    family: index in y_family (−1: none). y_*: observed sums; w_*: their error variances (> 0).
    """
    m = np.asarray(m, float)
    v = np.asarray(v, float)
    cell = np.asarray(cell, int)
    family = np.asarray(family, int)
    y_cell = np.asarray(y_cell, float)
    w_cell = np.asarray(w_cell, float)
    y_family = np.asarray(y_family, float)
    w_family = np.asarray(w_family, float)
    if np.any(v < 0) or np.any(w_cell <= 0) or np.any(w_family <= 0):
        raise ValueError("variances must be >= 0 and observation errors > 0")
    n_c, n_f = y_cell.size, y_family.size
    in_c, in_f = cell >= 0, family >= 0
    V_c = np.bincount(cell[in_c], weights=v[in_c], minlength=n_c)
    M_c = np.bincount(cell[in_c], weights=m[in_c], minlength=n_c)
    V_f = np.bincount(family[in_f], weights=v[in_f], minlength=n_f)
    M_f = np.bincount(family[in_f], weights=m[in_f], minlength=n_f)
    D = V_c + w_cell
    both = in_c & in_f
    B = np.zeros((n_f, n_c))
    np.add.at(B, (family[both], cell[both]), v[both])
    S = np.diag(V_f + w_family) - (B / D) @ B.T
    S_inv = np.linalg.inv(S) if n_f else np.zeros((0, 0))
    r_c = y_cell - M_c
    r_f = y_family - M_f
    lam_f = S_inv @ (r_f - B @ (r_c / D)) if n_f else np.zeros(0)
    lam_c = (r_c - B.T @ lam_f) / D
    # a trailing 0 stands for "no cell" / "no family", so empty constraint lists need no special case
    shift = np.r_[lam_c, 0.0][np.where(in_c, cell, n_c)] + np.r_[lam_f, 0.0][np.where(in_f, family, n_f)]
    raw = m + v * shift
    # coefficients of the family term of any sum's variance
    b = B / D  # (n_f, n_c)
    u = (np.where(in_c[:, None], v[:, None] * np.c_[b, np.zeros(n_f)][:, np.where(in_c, cell, n_c)].T, 0.0)
         if n_f else np.zeros((m.size, 0)))
    if n_f:
        u[np.flatnonzero(in_f), family[in_f]] -= v[in_f]
        L = np.linalg.cholesky(_symmetric(S_inv))
        projections = u @ L
    else:
        projections = u
    mean = np.maximum(raw, 0.0)
    return Posterior(
        mean=mean,
        denominator=np.r_[D, np.nan][np.where(in_c, cell, n_c)],
        projections=projections,
        cell_mean=np.bincount(cell[in_c], weights=raw[in_c], minlength=n_c),
        family_mean=np.bincount(family[in_f], weights=raw[in_f], minlength=n_f),
        clipped=int((raw < 0).sum()),
        s_inverse=S_inv,
        raw=raw,
    )


def solve_non_negative(m, v, cell, y_cell, w_cell, family, y_family, w_family, *, rounds: int = 8) -> Posterior:
    """solve(), then, while some posterior means are negative, fix those establishments at 0 (mean and variance
    0: a headcount cannot be negative) and solve again, so that the others take their share of the gap instead of
    a clipping that would add employment. `clipped` counts the establishments set to 0."""
    m = np.asarray(m, float).copy()
    v = np.asarray(v, float).copy()
    fixed = np.zeros(m.size, bool)
    for _ in range(rounds):
        post = solve(m, v, cell, y_cell, w_cell, family, y_family, w_family)
        negative = post.raw < 0
        if not negative.any():
            break
        fixed |= negative
        m[negative] = 0.0
        v[negative] = 0.0
    post.clipped = int((fixed | (post.raw < 0)).sum())
    post.variance = v
    return post


def sum_variance(v, a, cell, denominator, projections) -> float:
    """Posterior variance of Σ_{i: a_i} h_i (a: boolean mask) — the formula the cube evaluates, for checks."""
    v = np.asarray(v, float)
    a = np.asarray(a, bool)
    cell = np.asarray(cell, int)
    sel = a & (cell >= 0)
    x = np.bincount(cell[sel], weights=v[sel], minlength=max(int(cell.max()) + 1, 1) if cell.size else 1)
    d = np.zeros_like(x)
    d[cell[cell >= 0]] = np.asarray(denominator, float)[cell >= 0]
    middle = float(np.sum(np.divide(x ** 2, d, out=np.zeros_like(x), where=d > 0)))
    family = np.asarray(projections, float)[a].sum(axis=0)
    return float(v[a].sum() - middle - family @ family)


def _symmetric(a: np.ndarray) -> np.ndarray:
    return (a + a.T) / 2.0
