"""The exact LESS mode (Xia et al. 2024): one example at a time, explicit gradients.

For each example: forward, backward, flatten the weight gradients of the chosen layers,
optionally Adam-precondition them with the optimizer's moments (LESS does this for training
examples, not for targets), then project. Slow and memory-hungry by design: it is the
reference the fast path (`curricula.influence.features`) is checked against, and the baseline
the benchmark measures it against.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
from torch import nn

from curricula.influence.batching import TokenSequence, collate
from curricula.influence.features import feature_mode, forward_losses, model_device
from curricula.influence.projection import DenseProjector, KroneckerProjector


def adam_precondition(
    gradient: torch.Tensor,
    exp_avg: torch.Tensor,
    exp_avg_sq: torch.Tensor,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
) -> torch.Tensor:
    """The Adam update direction the gradient would produce, as LESS computes it.

    ``(b1 m + (1 - b1) g) / sqrt(b2 v + (1 - b2) g^2 + eps)`` with the optimizer's moments
    ``m`` and ``v``: no bias correction, ``eps`` inside the root (LESS's
    ``obtain_gradients_with_adam``).
    """
    m = beta1 * exp_avg + (1 - beta1) * gradient
    v = beta2 * exp_avg_sq + (1 - beta2) * gradient.pow(2)
    return m / torch.sqrt(v + eps)


@dataclass
class AdamMoments:
    """Adam's first and second moments of the chosen weights, flattened in feature order."""

    exp_avg: torch.Tensor
    exp_avg_sq: torch.Tensor
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8

    @classmethod
    def from_optimizer(cls, optimizer: torch.optim.Optimizer, weights: list[nn.Parameter]) -> AdamMoments:
        """From a live Adam/AdamW optimizer that has taken at least one step."""
        m, v = [], []
        for weight in weights:
            state = optimizer.state.get(weight)
            if not state or "exp_avg" not in state:
                raise ValueError(
                    "the optimizer holds no Adam moments for a chosen weight: it must be Adam/AdamW "
                    "and have taken a step (LESS warms up before extracting)."
                )
            m.append(state["exp_avg"].flatten().float())
            v.append(state["exp_avg_sq"].flatten().float())
        group = next(g for g in optimizer.param_groups if any(p is weights[0] for p in g["params"]))
        beta1, beta2 = group["betas"]
        return cls(torch.cat(m), torch.cat(v), beta1, beta2, group["eps"])

    @classmethod
    def from_trainer_checkpoint(
        cls, model: nn.Module, checkpoint_dir: str | os.PathLike, weights: list[nn.Parameter]
    ) -> AdamMoments:
        """From ``optimizer.pt`` of a `transformers.Trainer` checkpoint of this model.

        The saved state is indexed by position; the positions follow `Trainer.create_optimizer`:
        trainable parameters with weight decay, then those without, each in model order.
        """
        from transformers import Trainer

        path = os.path.join(checkpoint_dir, "optimizer.pt")
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path} not found: exact LESS features need the Adam state of the checkpoint.")
        saved = torch.load(path, map_location="cpu", weights_only=True)
        decay = set(Trainer.get_decay_parameter_names(None, model))
        trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        order = [p for n, p in trainable if n in decay] + [p for n, p in trainable if n not in decay]
        index = {id(p): i for i, p in enumerate(order)}
        m, v = [], []
        for weight in weights:
            state = saved["state"].get(index.get(id(weight), -1))
            if state is None or tuple(state["exp_avg"].shape) != tuple(weight.shape):
                raise ValueError(
                    f"{path} does not match the model: no Adam state of shape {tuple(weight.shape)} "
                    "where Trainer would have put it."
                )
            m.append(state["exp_avg"].flatten().float())
            v.append(state["exp_avg_sq"].flatten().float())
        group = saved["param_groups"][0]
        beta1, beta2 = group["betas"]
        return cls(torch.cat(m), torch.cat(v), beta1, beta2, group["eps"])


def second_moments_by_module(moments: AdamMoments, modules: dict[str, nn.Linear]) -> dict[str, torch.Tensor]:
    """Split flattened moments (in module order) back into one ``out x in`` tensor per module."""
    out, start = {}, 0
    for name, module in modules.items():
        size = module.weight.numel()
        out[name] = moments.exp_avg_sq[start : start + size].view_as(module.weight)
        start += size
    if start != moments.exp_avg_sq.numel():
        raise ValueError(f"moments hold {moments.exp_avg_sq.numel()} values, the modules {start}.")
    return out


def example_weight_gradients(
    model: nn.Module, sequence: TokenSequence, modules: dict[str, nn.Linear], pad_token_id: int = 0
) -> dict[str, torch.Tensor]:
    """One example's explicit loss gradient for each chosen layer's weight."""
    batch = collate([sequence], pad_token_id, model_device(model))
    with feature_mode(model):
        loss = forward_losses(model, batch)[0]
        grads = torch.autograd.grad(loss, [m.weight for m in modules.values()], allow_unused=True)
    return {
        name: (torch.zeros_like(m.weight) if g is None else g).float() for (name, m), g in zip(modules.items(), grads)
    }


def less_features(
    model: nn.Module,
    sequences: list[TokenSequence],
    modules: dict[str, nn.Linear],
    projector: DenseProjector | KroneckerProjector,
    adam: AdamMoments | None = None,
    pad_token_id: int = 0,
    chunk_size: int = 32,
) -> torch.Tensor:
    """LESS features ``[n, dim]``: explicit per-example gradients, optionally Adam-preconditioned,
    projected with ``projector`` (LESS's `DenseProjector`, or the fast path's
    `KroneckerProjector` to compare the two paths on the same projection)."""
    if isinstance(projector, KroneckerProjector) and adam is not None:
        raise ValueError("Adam preconditioning is elementwise on the full gradient; use a DenseProjector with it.")
    out, pending = [], []

    def flush():
        if pending:
            out.append(projector.project(torch.stack(pending)))
            pending.clear()

    for sequence in sequences:
        grads = example_weight_gradients(model, sequence, modules, pad_token_id)
        if isinstance(projector, KroneckerProjector):
            out.append(projector.project_parameters(grads).unsqueeze(0).cpu())
            continue
        flat = torch.cat([g.flatten() for g in grads.values()]).cpu()
        if adam is not None:
            flat = adam_precondition(flat, adam.exp_avg, adam.exp_avg_sq, adam.beta1, adam.beta2, adam.eps)
        pending.append(flat)
        if len(pending) >= chunk_size:
            flush()
    flush()
    return torch.cat(out) if out else torch.zeros(0, projector.dim)
