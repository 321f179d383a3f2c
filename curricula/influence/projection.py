"""Seeded random projections of linear-layer gradients, in Kronecker-factored form.

The gradient of a linear layer ``y = x W^T`` (``W`` is ``out x in``) for one example is
``G = sum_t g_t a_t^T``: output gradients ``g_t`` times input activations ``a_t``, summed over
tokens. Projecting ``vec(G)`` with the Kronecker product ``P_out (x) P_in`` gives
``P_out^T G P_in = sum_t (P_out^T g_t)(P_in^T a_t)^T``, so each side is projected on its own
and the ``out x in`` gradient is never formed (LoGra / LogIX, arXiv 2405.13954).

Every matrix is generated from ``(seed, module name, side)`` through a stable hash, so two
processes, two runs or a resumed run build identical projections. A side whose width is not
larger than its budget is kept exactly (identity): projecting it would only add noise.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import torch

PROJECTION_KINDS = ("rademacher", "gaussian")


def stable_seed(*parts) -> int:
    """A 63-bit seed from its parts, the same in every process and Python run."""
    digest = hashlib.sha256("/".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") & ((1 << 63) - 1)


def random_matrix(rows: int, cols: int, kind: str, seed: int) -> torch.Tensor:
    """A ``rows x cols`` float32 matrix of iid ±1 (Rademacher) or N(0, 1) entries over sqrt(cols).

    With that scale ``E ||x @ P||^2 = ||x||^2``, so projected norms stay comparable to the
    originals (cosines are scale-free anyway).
    """
    if kind not in PROJECTION_KINDS:
        raise ValueError(f"projection kind must be one of {PROJECTION_KINDS}, got {kind!r}.")
    generator = torch.Generator().manual_seed(seed)
    if kind == "rademacher":
        values = torch.randint(0, 2, (rows, cols), generator=generator, dtype=torch.int8).float() * 2 - 1
    else:
        values = torch.randn(rows, cols, generator=generator)
    return values / math.sqrt(cols)


def split_budget(shapes: list[tuple[int, int]], total_dim: int) -> list[tuple[int, int]]:
    """Per-module projected sizes ``(k_out, k_in)`` whose products add up to about ``total_dim``.

    Each module gets an equal share ``b = total_dim / modules``, split as evenly as the layer
    allows: ``k_in ~ sqrt(b)`` and ``k_out ~ b / k_in``, each capped at the layer's width (a
    LoRA ``A`` has only ``r`` outputs); what a capped side cannot use goes to the other side.
    """
    if not shapes:
        raise ValueError("no modules to project: the module selection matched nothing.")
    if total_dim < len(shapes):
        raise ValueError(
            f"projection dim {total_dim} is smaller than the number of modules ({len(shapes)}); "
            "each module needs at least one dimension."
        )
    budget = total_dim / len(shapes)
    dims = []
    for out_features, in_features in shapes:
        k_in = min(in_features, max(1, math.ceil(math.sqrt(budget))))
        k_out = min(out_features, max(1, int(budget // k_in)))
        k_in = min(in_features, max(1, int(budget // k_out)))  # give back what k_out could not use
        dims.append((k_out, k_in))
    return dims


@dataclass
class SideProjection:
    """One side of one module's projection; ``matrix is None`` means kept exactly."""

    width: int
    dim: int
    matrix: torch.Tensor | None

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float()
        return x if self.matrix is None else x @ self.matrix.to(x.device)

    def dense(self) -> torch.Tensor:
        return torch.eye(self.width) if self.matrix is None else self.matrix


class KroneckerProjector:
    """The per-module projections ``(P_out, P_in)`` of a set of linear layers.

    Args:
        shapes: Module name -> ``(out_features, in_features)``; the order fixes the layout
            of the feature vector (module after module, each ``k_out x k_in`` row-major).
        total_dim: Target total feature size (LESS uses 8192).
        kind: ``"rademacher"`` or ``"gaussian"``.
        seed: Projection seed; the same seed gives the same features in any process.
    """

    def __init__(
        self, shapes: dict[str, tuple[int, int]], total_dim: int = 8192, kind: str = "rademacher", seed: int = 0
    ):
        self.shapes = dict(shapes)
        self.kind, self.seed, self.requested_dim = kind, seed, total_dim
        self.preconditioner: str | None = None
        self.sides: dict[str, tuple[SideProjection, SideProjection]] = {}
        self.offsets: dict[str, tuple[int, int]] = {}
        start = 0
        for (name, (out_features, in_features)), (k_out, k_in) in zip(
            self.shapes.items(), split_budget(list(self.shapes.values()), total_dim)
        ):
            self.sides[name] = (self._side(name, "out", out_features, k_out), self._side(name, "in", in_features, k_in))
            self.offsets[name] = (start, start + k_out * k_in)
            start += k_out * k_in
        self.dim = start

    def _side(self, name: str, side: str, width: int, dim: int) -> SideProjection:
        if dim >= width:
            return SideProjection(width, width, None)
        return SideProjection(width, dim, random_matrix(width, dim, self.kind, stable_seed(self.seed, name, side)))

    def preconditioned(self, second_moments: dict[str, torch.Tensor], eps: float = 1e-12) -> KroneckerProjector:
        """A copy whose features are those of gradients divided elementwise by ``sqrt(v_hat)``.

        Adam divides each gradient entry by the root of its second moment ``v``, which does not
        factor through ``P_out^T G P_in``. Its rank-one (Adafactor) approximation does:
        ``v_hat = r c^T / sum(v)`` with row sums ``r`` and column sums ``c`` of ``v``, so
        ``G / sqrt(v_hat) = D_out G D_in`` with ``D_out = diag(sqrt(sum(v) / r))`` and
        ``D_in = diag(1 / sqrt(c))``, which fold into the side matrices (as bergson does).

        Args:
            second_moments: Module name -> Adam's ``exp_avg_sq`` of its weight (``out x in``).
        """
        copy = KroneckerProjector.__new__(KroneckerProjector)
        copy.__dict__.update(self.__dict__)
        copy.sides, copy.preconditioner = {}, "adafactor"
        for name, (out_side, in_side) in self.sides.items():
            v = second_moments[name].float()
            if tuple(v.shape) != self.shapes[name]:
                raise ValueError(f"second moment of {name} has shape {tuple(v.shape)}, expected {self.shapes[name]}.")
            rows, cols = v.sum(1) + eps, v.sum(0) + eps
            d_out, d_in = torch.sqrt(v.sum() / rows), torch.rsqrt(cols)
            copy.sides[name] = (
                SideProjection(out_side.width, out_side.dim, d_out.unsqueeze(1) * out_side.dense()),
                SideProjection(in_side.width, in_side.dim, d_in.unsqueeze(1) * in_side.dense()),
            )
        return copy

    def to(self, device) -> KroneckerProjector:
        for out_side, in_side in self.sides.values():
            for s in (out_side, in_side):
                if s.matrix is not None:
                    s.matrix = s.matrix.to(device)
        return self

    def project_gradient(self, name: str, gradient: torch.Tensor) -> torch.Tensor:
        """``P_out^T G P_in`` flattened, for explicit gradients ``G`` (``... x out x in``)."""
        out_side, in_side = self.sides[name]
        left = out_side.dense().to(gradient.device)
        right = in_side.dense().to(gradient.device)
        return (left.T @ gradient.float() @ right).flatten(-2)

    def project_parameters(self, gradients: dict[str, torch.Tensor]) -> torch.Tensor:
        """The whole feature vector from explicit per-module weight gradients."""
        return torch.cat([self.project_gradient(name, gradients[name]) for name in self.shapes], dim=-1)

    def describe(self) -> dict:
        return {
            "kind": self.kind,
            "seed": self.seed,
            "requested_dim": self.requested_dim,
            "dim": self.dim,
            "preconditioner": self.preconditioner,
            "modules": {
                name: {"shape": list(self.shapes[name]), "dims": [o.dim, i.dim]} for name, (o, i) in self.sides.items()
            },
        }


class DenseProjector:
    """LESS's projection: one iid ``D x k`` matrix applied to flattened gradients.

    The matrix is generated in row blocks from ``(seed, block)``, so it never has to exist
    whole: ``project`` regenerates each block (or keeps them when they fit in
    ``cache_bytes``). Used by the exact LESS mode and the benchmark's baseline.
    """

    def __init__(
        self,
        input_dim: int,
        dim: int = 8192,
        kind: str = "rademacher",
        seed: int = 0,
        block_rows: int = 4096,
        cache_bytes: int = 1 << 30,
    ):
        self.input_dim, self.dim, self.kind, self.seed = input_dim, dim, kind, seed
        self.block_rows = block_rows
        self._cache: dict[int, torch.Tensor] | None = {} if input_dim * dim * 4 <= cache_bytes else None

    def block(self, index: int) -> torch.Tensor:
        if self._cache is not None and index in self._cache:
            return self._cache[index]
        rows = min(self.block_rows, self.input_dim - index * self.block_rows)
        matrix = random_matrix(rows, self.dim, self.kind, stable_seed(self.seed, "dense", index))
        if self._cache is not None:
            self._cache[index] = matrix
        return matrix

    def project(self, vectors: torch.Tensor) -> torch.Tensor:
        """``vectors @ P`` for a ``n x D`` batch, block by block."""
        if vectors.shape[-1] != self.input_dim:
            raise ValueError(f"expected vectors of size {self.input_dim}, got {vectors.shape[-1]}.")
        out = torch.zeros(vectors.shape[0], self.dim, device=vectors.device)
        for index, start in enumerate(range(0, self.input_dim, self.block_rows)):
            block = self.block(index).to(vectors.device)
            out += vectors[:, start : start + block.shape[0]].float() @ block
        return out
