"""Cross statistics accumulated block by block: sum of a*b and co-fire counts, [F_a, F_b].

Each block holds the same aligned examples of both models (rows), the narrow model as CSR,
the wide one as CSR or dense. Its products run one of two ways, whichever the measurement
says is faster at the block's density:

- dense: fp32 GEMM for the sum of products (folded into a float64 total after each block)
  and an int8 x int8 -> int32 GEMM (`torch._int_mm`) for the co-fire counts. 0/1 inputs and
  integer accumulation make the counts exact; measured on this machine's 2 AVX-512 cores it
  runs ~4.5x faster than the fp32 GEMM (a bf16 GEMM rounds its output to bf16, so counts
  above 256 would not be exact; `mm(out_dtype=float32)` does not exist on CPU).
- sparse: scipy sparse x sparse products, scattered into the dense totals.

The first rows are multiplied both ways and timed (`ProductCosts`, seconds per
multiply-add of each method); every block then takes the method whose predicted time (cost
per multiply-add x the block's multiply-adds at its density) is smaller. The measured costs
are kept per machine in the cache folder (`product-costs.json`, keyed by device and widths)
and reused, so the choice, and with it a rebuild, stays the same from run to run; delete the
file to measure again. On CUDA the dense path always runs (not run on a GPU so far).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from crossmodel_matcher.rules import CALIBRATION_ROWS

DEVICES = ("cpu", "cuda", "auto")


def resolve_device(name: str):
    """`cpu`, `cuda` or `auto` (cuda when available) as a torch device."""
    import torch

    if name not in DEVICES:
        raise ValueError(f"device {name!r}: use one of {', '.join(DEVICES)}")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' asked for, but torch sees no CUDA GPU; use --device cpu or auto")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


@dataclass
class ProductCosts:
    """Measured seconds per multiply-add of each method (dense: rows*F_a*F_b; sparse: sum over
    rows of nnz_a*nnz_b), and what the calibration block looked like."""

    dense_per_mac: float
    sparse_per_mac: float
    rows: int
    density_a: float
    density_b: float

    def as_dict(self) -> dict:
        return asdict(self)


def _int8_works(device) -> bool:
    import torch

    try:
        a = torch.ones((17, 8), dtype=torch.int8, device=device)
        return bool(torch._int_mm(a, a.T.contiguous())[0, 0] == 8)
    except (RuntimeError, AttributeError):
        return False


class BlockedCross:
    """Running all-pairs sums over aligned rows, fed one block of rows at a time."""

    def __init__(self, n_a: int, n_b: int, device: str = "cpu", method: str = "auto"):
        import torch

        self.torch = torch
        self.device = resolve_device(device)
        self.n_a, self.n_b = n_a, n_b
        self.method = method  # "auto", "dense" or "sparse" (forced, for tests)
        self.sum_prod = torch.zeros((n_a, n_b), dtype=torch.float64, device=self.device)
        self.cofire = torch.zeros((n_a, n_b), dtype=torch.int32, device=self.device)
        self.int8 = _int8_works(self.device)
        self.costs_key = f"{self.device.type}:{n_a}x{n_b}:int8={self.int8}"
        self.costs: ProductCosts | None = _load_costs(self.costs_key)
        self.rows_done = 0
        self.blocks = {"dense": 0, "sparse": 0}
        self.seconds = {"dense": 0.0, "sparse": 0.0}

    # ---- feeding -------------------------------------------------------------------------------
    def add(self, a: sp.csr_matrix, b: sp.csr_matrix | np.ndarray) -> None:
        """Rows of model a (CSR) and the same rows of model b (CSR or dense), in one order."""
        if a.shape[0] != b.shape[0]:
            raise ValueError(f"blocks disagree: {a.shape[0]} rows of a, {b.shape[0]} of b")
        if a.shape[0] == 0:
            return
        if self.costs is None and self.method == "auto" and self.device.type == "cpu":
            k = min(a.shape[0], CALIBRATION_ROWS)
            self._calibrate(a[:k], b[:k])
            a, b = a[k:], b[k:]
            if a.shape[0] == 0:
                return
        self._run(self.choose(a, b), a, b)

    def choose(self, a: sp.csr_matrix, b) -> str:
        if self.method != "auto":
            return self.method
        if self.device.type != "cpu":
            return "dense"
        dense = a.shape[0] * self.n_a * self.n_b * self.costs.dense_per_mac
        sparse = _sparse_macs(a, b) * self.costs.sparse_per_mac
        return "sparse" if sparse < dense else "dense"

    def _calibrate(self, a: sp.csr_matrix, b) -> None:
        t0 = time.perf_counter()
        self._sparse(a, b, add=False)
        t_sparse = time.perf_counter() - t0
        t0 = time.perf_counter()
        self._dense(a, b)
        t_dense = time.perf_counter() - t0
        self._count("dense", a.shape[0], t_dense)
        rows = a.shape[0]
        nnz_b = b.nnz if sp.issparse(b) else int(np.count_nonzero(b))
        self.costs = ProductCosts(
            dense_per_mac=t_dense / max(1, rows * self.n_a * self.n_b),
            sparse_per_mac=t_sparse / max(1.0, _sparse_macs(a, b)),
            rows=rows,
            density_a=a.nnz / max(1, rows * self.n_a),
            density_b=nnz_b / max(1, rows * self.n_b),
        )
        _save_costs(self.costs_key, self.costs)

    def _run(self, method: str, a, b) -> None:
        t0 = time.perf_counter()
        if method == "dense":
            self._dense(a, b)
        else:
            self._sparse(a, b, add=True)
        self._count(method, a.shape[0], time.perf_counter() - t0)

    def _count(self, method: str, rows: int, seconds: float) -> None:
        self.blocks[method] += 1
        self.seconds[method] += seconds
        self.rows_done += rows

    # ---- the two methods -------------------------------------------------------------------------
    def _dense(self, a: sp.csr_matrix, b) -> None:
        torch = self.torch
        ta = torch.from_numpy(np.ascontiguousarray(a.toarray(), dtype=np.float32)).to(self.device)
        bd = b.toarray() if sp.issparse(b) else b
        tb = torch.from_numpy(np.ascontiguousarray(bd, dtype=np.float32)).to(self.device)
        prev = torch.backends.cuda.matmul.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = False  # full fp32 products
        try:
            self.sum_prod += ta.T @ tb
            if self.int8:
                self.cofire += torch._int_mm((ta > 0).to(torch.int8).T, (tb > 0).to(torch.int8))
            else:  # fp32 GEMM of 0/1 values: exact while a block has < 2**24 rows
                self.cofire += ((ta > 0).float().T @ (tb > 0).float()).round().to(torch.int32)
        finally:
            torch.backends.cuda.matmul.allow_tf32 = prev

    def _sparse(self, a: sp.csr_matrix, b, add: bool) -> None:
        bs = sp.csr_matrix(b) if not sp.issparse(b) else b.tocsr()
        at = a.T.tocsr()
        prod = (at @ bs).tocoo()
        ones_a = sp.csr_matrix((np.ones(a.nnz, np.float32), at.indices, at.indptr), at.shape)
        ones_b = sp.csr_matrix((np.ones(bs.nnz, np.float32), bs.indices, bs.indptr), bs.shape)
        cof = (ones_a @ ones_b).tocoo()
        if not add:
            return
        torch = self.torch
        for acc, m, dtype in ((self.sum_prod, prod, torch.float64), (self.cofire, cof, torch.int32)):
            flat = torch.from_numpy(m.row.astype(np.int64) * self.n_b + m.col)
            vals = torch.from_numpy(np.rint(m.data) if dtype == torch.int32 else m.data).to(dtype)
            acc.view(-1).index_add_(0, flat.to(self.device), vals.to(self.device))

    # ---- results and state -----------------------------------------------------------------------
    def result(self) -> tuple[np.ndarray, np.ndarray]:
        """(sum_prod, cofire) as float32 [F_a, F_b] (co-fire counts are exact below 2**24)."""
        return (
            self.sum_prod.to(self.torch.float32).cpu().numpy(),
            self.cofire.to(self.torch.float32).cpu().numpy(),
        )

    def state(self) -> dict[str, np.ndarray]:
        return {"sum_prod": self.sum_prod.cpu().numpy(), "cofire": self.cofire.cpu().numpy()}

    def restore(self, state: dict[str, np.ndarray], costs: dict | None, rows_done: int) -> None:
        self.sum_prod.copy_(self.torch.from_numpy(np.asarray(state["sum_prod"])))
        self.cofire.copy_(self.torch.from_numpy(np.asarray(state["cofire"])))
        self.costs = None if costs is None else ProductCosts(**costs)
        self.rows_done = rows_done

    def summary(self) -> dict:
        return {
            "device": str(self.device),
            "int8_cofire": self.int8,
            "blocks": dict(self.blocks),
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
            "costs": None if self.costs is None else self.costs.as_dict(),
        }


def costs_file() -> Path:
    from crossmodel_matcher.demo_paths import default_cache_dir

    return default_cache_dir() / "product-costs.json"


def _load_costs(key: str) -> ProductCosts | None:
    try:
        entry = json.loads(costs_file().read_text()).get(key)
        return None if entry is None else ProductCosts(**entry)
    except (OSError, ValueError, TypeError):
        return None


def _save_costs(key: str, costs: ProductCosts) -> None:
    path = costs_file()
    try:
        data = json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, ValueError):
        data = {}
    data[key] = costs.as_dict()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        tmp.write_text(json.dumps(data, indent=1))
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only cache only means measuring again next time


def _sparse_macs(a: sp.csr_matrix, b) -> float:
    nnz_a = np.diff(a.indptr).astype(np.float64)
    nnz_b = np.diff(b.indptr) if sp.issparse(b) else np.count_nonzero(b, axis=1)
    return float(nnz_a @ nnz_b.astype(np.float64))


def dense_bound_seconds(n_rows: int, n_a: int, n_b: int, device: str = "cpu", probe_rows: int = 2048) -> float:
    """Seconds two fp32 dense GEMMs (a.T @ b and (a>0).T @ (b>0)) would take over `n_rows`
    aligned rows, measured on one block of `probe_rows` random rows at real density and scaled."""
    import torch

    dev = resolve_device(device)
    g = torch.Generator().manual_seed(0)
    a = (torch.rand((probe_rows, n_a), generator=g) < 0.093).float().to(dev)
    b = (torch.rand((probe_rows, n_b), generator=g) < 0.09).float().to(dev)
    out = torch.zeros((n_a, n_b), device=dev)
    out.addmm_(a.T, b)  # warm-up
    best = float("inf")
    for _ in range(2):
        t0 = time.perf_counter()
        out.addmm_(a.T, b)  # the sum of products
        out.addmm_(a.T, b)  # the co-fire counts (a, b hold 0/1 here: same GEMM)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return best * n_rows / probe_rows
