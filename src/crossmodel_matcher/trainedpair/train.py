"""A plain-torch SAE and its training loop: TopK and L1-penalised ReLU, on CPU in minutes.

Encoder `relu(W_enc (x - b_dec) + b_enc)`; TopK keeps the k largest pre-activations of each
example. Decoder columns are kept at unit norm after every step. The ReLU kind pays an L1
penalty on its activations (SplatNLP's kind: denser firing, shrunk activations); the TopK
kind gets an auxiliary loss that lets dead latents model the residual (AuxK, Gao et al.).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn


@dataclass
class TrainConfig:
    kind: str  # "topk" | "relu"
    n_latents: int
    k: int = 8  # TopK: active latents per example
    l1: float = 0.05  # ReLU: L1 coefficient (on activations, unit-norm decoder)
    b_enc_init: float = 0.0  # ReLU: a negative start keeps most latents silent at first
    steps: int = 2500
    batch: int = 512
    lr: float = 1e-3
    aux_k: int = 64  # TopK: dead latents used by the auxiliary loss
    dead_after: int = 200  # steps without firing after which a latent counts as dead
    seed: int = 0


class SAE(nn.Module):
    def __init__(self, d: int, cfg: TrainConfig, mean: torch.Tensor):
        super().__init__()
        self.cfg = cfg
        g = torch.Generator().manual_seed(cfg.seed)
        dec = torch.randn(d, cfg.n_latents, generator=g)
        dec /= dec.norm(dim=0, keepdim=True)
        self.W_dec = nn.Parameter(dec)
        self.W_enc = nn.Parameter(dec.T.clone())
        self.b_enc = nn.Parameter(torch.full((cfg.n_latents,), float(cfg.b_enc_init)))
        self.b_dec = nn.Parameter(mean.clone())

    def pre(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.b_dec) @ self.W_enc.T + self.b_enc

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        z = torch.relu(self.pre(x))
        if self.cfg.kind == "topk":
            val, idx = z.topk(self.cfg.k, dim=1)
            z = torch.zeros_like(z).scatter_(1, idx, val)
        return z

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return z @ self.W_dec.T + self.b_dec

    @torch.no_grad()
    def normalise(self) -> None:
        self.W_dec /= self.W_dec.norm(dim=0, keepdim=True).clamp_min(1e-8)


def train_sae(d: int, cfg: TrainConfig, draw: Callable[[int], np.ndarray]) -> SAE:
    """Train one SAE on fresh batches from `draw(n) -> x [n, d]`."""
    torch.manual_seed(cfg.seed)
    first = torch.from_numpy(draw(4096))
    sae = SAE(d, cfg, first.mean(0))
    opt = torch.optim.Adam(sae.parameters(), lr=cfg.lr)
    since_fired = torch.zeros(cfg.n_latents)
    var = first.var(0).sum()
    for step in range(cfg.steps):
        x = torch.from_numpy(draw(cfg.batch))
        z = sae.encode(x)
        recon = sae.decode(z)
        err = x - recon
        loss = err.pow(2).sum(1).mean() / var
        if cfg.kind == "relu":
            loss = loss + cfg.l1 * z.sum(1).mean()
        else:
            fired = (z > 0).any(0)
            since_fired = torch.where(fired, torch.zeros_like(since_fired), since_fired + 1)
            dead = since_fired > cfg.dead_after
            if dead.any():
                pre = torch.relu(sae.pre(x))[:, dead]
                kk = min(cfg.aux_k, int(dead.sum()))
                val, idx = pre.topk(kk, dim=1)
                za = torch.zeros_like(pre).scatter_(1, idx, val)
                aux = za @ sae.W_dec[:, dead].T
                loss = loss + (err.detach() - aux).pow(2).sum(1).mean() / var / 32
        lr = cfg.lr * min(1.0, 5 * (cfg.steps - step) / cfg.steps)  # linear decay at the end
        for group in opt.param_groups:
            group["lr"] = lr
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sae.normalise()
    return sae


@torch.no_grad()
def encode_all(sae: SAE, x: np.ndarray, block: int = 4096) -> list[np.ndarray]:
    """Latent activations of every row of x, as dense float32 blocks."""
    return [sae.encode(torch.from_numpy(x[i : i + block])).numpy() for i in range(0, len(x), block)]
