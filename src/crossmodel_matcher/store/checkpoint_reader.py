"""SAE checkpoints: decoder directions, and the activation space they live in.

- torch state dicts with SplatNLP's key names (`decoder.weight` [d, H], possibly wrapped as
  {"model_state_dict": ...}), loaded with `torch.load(..., weights_only=True)` only: a file
  holding arbitrary pickled objects is refused, never unpickled;
- SAELens-style `.safetensors` (`W_dec` [H, d]) with its `cfg.json` beside it, whose hook
  name (and model name) declare the activation space.

Decoder cosine across the two models is used only when both declare the same space.
"""

from __future__ import annotations

import json
import pickle
import warnings
from pathlib import Path

import numpy as np

from crossmodel_matcher.errors import InputError

_TORCH_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt")


def read_decoder(path: str | Path, n_features: int | None) -> tuple[np.ndarray, str | None]:
    """Decoder rows [n_features, d] (float32) and the declared activation space, if any."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    if path.suffix == ".safetensors":
        tensors, space = _read_safetensors(path), _space_from_cfg(path.parent / "cfg.json")
    elif path.suffix in _TORCH_SUFFIXES:
        tensors, space = _read_state_dict(path), None
    else:
        raise InputError(
            f"{path}: unknown checkpoint type; use a torch state dict (.pth/.pt) or .safetensors"
        )
    if "W_dec" in tensors:
        dec, field = tensors["W_dec"], "W_dec"
    elif "decoder.weight" in tensors:
        dec, field = tensors["decoder.weight"], "decoder.weight"
        dec = dec.T if dec.ndim == 2 else dec  # nn.Linear(H, d).weight is [d, H]
    else:
        keys = ", ".join(sorted(tensors)[:12]) or "none"
        raise InputError(
            f"{path}: no decoder found (keys: {keys}); expected 'decoder.weight' [d, H] or 'W_dec' [H, d]"
        )
    dec = np.asarray(dec)
    if dec.ndim != 2 or dec.dtype.kind != "f":
        raise InputError(
            f"{path}: field {field!r} has shape {dec.shape} dtype {dec.dtype}; expected a 2-D float matrix"
        )
    if n_features is not None and dec.shape[0] != n_features:
        want = "[d, n_features]" if field == "decoder.weight" else "[n_features, d]"
        raise InputError(
            f"{path}: field {field!r} gives {dec.shape[0]} features, the model's data have {n_features}; "
            f"it must be {want} for this SAE (is it the other model's checkpoint?)"
        )
    if not np.all(np.isfinite(dec)):
        raise InputError(f"{path}: field {field!r} holds NaN or inf; the checkpoint is damaged")
    return np.ascontiguousarray(dec, dtype=np.float32), space


def _read_state_dict(path: Path) -> dict[str, np.ndarray]:
    try:
        import torch
    except ImportError:
        raise InputError(
            f"{path}: reading a torch checkpoint needs torch, which is optional: "
            "pip install 'mechinterp-crossmodel-matcher[import]' (or save the decoder as .safetensors)"
        ) from None

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise InputError(
            f"{path}: refused: it holds pickled Python objects, not only tensors, and is never "
            "unpickled here (weights_only loading); re-save it with torch.save(sae.state_dict(), path)"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise InputError(
            f"{path}: not a readable torch checkpoint ({str(exc)[:200]}); is it truncated?"
        ) from None
    if isinstance(obj, dict) and isinstance(obj.get("model_state_dict"), dict):
        obj = obj["model_state_dict"]
    if not isinstance(obj, dict):
        raise InputError(f"{path}: holds a {type(obj).__name__}, not a state dict of tensors")
    return {k: v.detach().float().numpy() for k, v in obj.items() if isinstance(v, torch.Tensor)}


def _read_safetensors(path: Path) -> dict[str, np.ndarray]:
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise InputError(f"{path}: not a readable safetensors file ({exc}); is it truncated?") from None


def _space_from_cfg(cfg_path: Path) -> str | None:
    """'model_name/hook_name' from a SAELens cfg.json (top level or under 'metadata')."""
    if not cfg_path.is_file():
        return None
    try:
        cfg = json.loads(cfg_path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"{cfg_path}: not readable JSON ({exc})") from None
    if not isinstance(cfg, dict):
        raise InputError(f"{cfg_path}: expected a JSON object")
    meta = cfg.get("metadata") if isinstance(cfg.get("metadata"), dict) else {}
    hook = cfg.get("hook_name") or meta.get("hook_name")
    model = cfg.get("model_name") or meta.get("model_name")
    if not hook:
        return None
    return f"{model}/{hook}" if model else str(hook)
