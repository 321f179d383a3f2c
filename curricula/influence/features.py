"""Per-example gradient features from one batched forward and backward (the fast path).

Forward hooks on the chosen linear layers keep each layer's input activations, already
projected (``a @ P_in``, small), and its output tensor. One ``torch.autograd.grad`` of the
summed per-example losses with respect to those outputs gives the output gradients ``g``;
since examples never interact in a forward pass, row ``n`` of ``g`` is exactly the gradient of
example ``n``'s own loss. Its projected weight gradient is then
``sum_t (g_t @ P_out)^T (a_t @ P_in)``: the ``out x in`` per-example gradient is never formed.

``torch.autograd.grad`` leaves every ``.grad`` untouched, so features can be taken in the
middle of training without disturbing the optimizer's accumulated gradients.
"""

from __future__ import annotations

import contextlib
import fnmatch
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import nn

from curricula.influence.batching import TokenSequence, collate, response_nll
from curricula.influence.projection import KroneckerProjector


@dataclass
class FeatureConfig:
    """How gradient features are computed.

    Args:
        dim: Target total size of a feature vector, split over the chosen modules (LESS: 8192).
            The exact size is `GradientFeaturizer.dim` (each module gets ``k_out x k_in``).
        projection: ``"rademacher"`` (±1 entries, as LESS) or ``"gaussian"``.
        seed: Projection seed. Features are comparable only between runs with the same seed,
            modules and dim (the store refuses to mix them).
        modules: Glob patterns over module names (``"*.self_attn.q_proj"``,
            ``"*lora_[AB]*"``) choosing the linear layers whose weight gradients make up the
            feature. ``None``: the LoRA adapters of a peft model, otherwise every linear layer
            except the output embedding (``lm_head``).
        batch_size: Sequences per forward/backward; bounds activation memory.
    """

    dim: int = 8192
    projection: str = "rademacher"
    seed: int = 0
    modules: tuple[str, ...] | None = None
    batch_size: int = 16

    def __post_init__(self):
        if self.dim < 1:
            raise ValueError(f"dim must be positive, got {self.dim}.")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {self.batch_size}.")
        if isinstance(self.modules, str):
            self.modules = (self.modules,)
        elif self.modules is not None:
            self.modules = tuple(self.modules)


def is_lora_module(name: str) -> bool:
    return ".lora_A." in name or ".lora_B." in name


def select_linear_modules(model: nn.Module, patterns: tuple[str, ...] | None = None) -> dict[str, nn.Linear]:
    """The linear layers whose weight gradients make up the features, by name, in model order."""
    linear = {name: m for name, m in model.named_modules() if isinstance(m, nn.Linear)}
    if patterns:
        chosen = {n: m for n, m in linear.items() if any(fnmatch.fnmatchcase(n, p) for p in patterns)}
        if not chosen:
            sample = ", ".join(list(linear)[:6])
            raise ValueError(f"module patterns {list(patterns)} match no linear layer; names look like: {sample}")
        return chosen
    lora = {n: m for n, m in linear.items() if is_lora_module(n) and m.weight.requires_grad}
    if lora:
        return lora
    output_embeddings = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    chosen = {n: m for n, m in linear.items() if m is not output_embeddings}
    if not chosen:
        raise ValueError("the model has no linear layers to take gradient features from.")
    return chosen


class LinearCapture:
    """Forward hooks keeping each chosen layer's (transformed) inputs and its outputs.

    Args:
        modules: Name -> linear layer.
        transform_input: ``(name, activations) -> kept tensor``; defaults to a detached copy.

    A layer called several times in one forward keeps one entry per call.
    """

    def __init__(
        self, modules: dict[str, nn.Module], transform_input: Callable[[str, torch.Tensor], torch.Tensor] | None = None
    ):
        self.modules = modules
        self.transform_input = transform_input or (lambda name, a: a)
        self.inputs: dict[str, list[torch.Tensor]] = {}
        self.outputs: dict[str, list[torch.Tensor]] = {}
        self._handles = []

    def __enter__(self) -> LinearCapture:
        self.inputs = {name: [] for name in self.modules}
        self.outputs = {name: [] for name in self.modules}
        for name, module in self.modules.items():
            self._handles.append(module.register_forward_hook(self._hook(name)))
        return self

    def _hook(self, name: str):
        def hook(module, args, output):
            self.inputs[name].append(self.transform_input(name, args[0].detach()))
            self.outputs[name].append(output)

        return hook

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def output_gradients(self, loss: torch.Tensor) -> dict[str, list[torch.Tensor]]:
        """d loss / d output of every captured call (zeros where the loss does not depend on it)."""
        flat = [(name, i) for name in self.modules for i in range(len(self.outputs[name]))]
        tensors = [self.outputs[name][i] for name, i in flat]
        if not tensors:
            raise RuntimeError("no chosen module ran in the forward pass.")
        if not any(t.requires_grad for t in tensors):
            raise RuntimeError("the chosen modules' outputs do not require grad: nothing upstream is trainable.")
        grads = torch.autograd.grad(loss, [t for t in tensors if t.requires_grad], allow_unused=True)
        grads_iter = iter(grads)
        result: dict[str, list[torch.Tensor]] = {name: [] for name in self.modules}
        for (name, _), t in zip(flat, tensors):
            g = next(grads_iter) if t.requires_grad else None
            result[name].append(torch.zeros_like(t) if g is None else g)
        return result


@contextlib.contextmanager
def feature_mode(model: nn.Module) -> Iterator[None]:
    """Eval mode (no dropout: features are deterministic), grad enabled, and inputs that
    require grad so frozen layers' outputs still carry gradients; everything restored after."""
    was_training = model.training
    model.eval()
    handle = None
    embeddings = model.get_input_embeddings() if hasattr(model, "get_input_embeddings") else None
    if embeddings is not None:
        handle = embeddings.register_forward_hook(lambda module, args, output: output.requires_grad_(True))
    try:
        with torch.enable_grad():
            yield
    finally:
        if handle is not None:
            handle.remove()
        model.train(was_training)


def _as_tokens(x: torch.Tensor) -> torch.Tensor:
    """Activations as ``[batch, tokens, width]`` (a 2-D input is one token per row)."""
    return x.unsqueeze(1) if x.dim() == 2 else x.flatten(1, -2)


def forward_losses(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Per-row mean response NLL of a collated batch (one forward)."""
    logits = model(
        input_ids=batch["input_ids"],
        attention_mask=batch["attention_mask"],
        position_ids=batch["position_ids"],
        use_cache=False,
    ).logits
    return response_nll(logits, batch["input_ids"], batch["response_mask"])


def model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def length_sorted_batches(sequences: list[TokenSequence], batch_size: int) -> list[list[int]]:
    """Indices in batches of similar length (features do not depend on the batching, so the
    least padding wins)."""
    order = sorted(range(len(sequences)), key=lambda i: len(sequences[i].input_ids))
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


class GradientFeaturizer:
    """Projected per-example gradients of a model's chosen linear layers.

    Args:
        model: A causal LM (a peft model included); features are taken with it in eval mode.
        config: `FeatureConfig`.
        pad_token_id: Padding id for batches (default: the model config's, else 0).

    Example::

        featurizer = GradientFeaturizer(model, FeatureConfig(dim=8192, seed=0))
        feats, losses = featurizer.features(encode_rows(tokenizer, rows))   # [n, dim], [n]
    """

    def __init__(self, model: nn.Module, config: FeatureConfig | None = None, pad_token_id: int | None = None):
        self.model = model
        self.config = config or FeatureConfig()
        self.modules = select_linear_modules(model, self.config.modules)
        shapes = {name: (m.out_features, m.in_features) for name, m in self.modules.items()}
        self.projector = KroneckerProjector(shapes, self.config.dim, self.config.projection, self.config.seed)
        self.projector.to(model_device(model))
        if pad_token_id is None:
            pad_token_id = getattr(getattr(model, "config", None), "pad_token_id", None)
        self.pad_token_id = 0 if pad_token_id is None else pad_token_id

    @property
    def dim(self) -> int:
        return self.projector.dim

    def precondition(self, second_moments: dict[str, torch.Tensor]) -> GradientFeaturizer:
        """From now on, features of Adam-preconditioned gradients, with Adam's second moments
        (``exp_avg_sq`` per module) in factored form; see `KroneckerProjector.preconditioned`."""
        self.projector = self.projector.preconditioned(second_moments).to(model_device(self.model))
        return self

    def batch_features(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Features ``[n, dim]`` and losses ``[n]`` of one collated batch: one forward + backward."""
        sides = self.projector.sides
        with (
            feature_mode(self.model),
            LinearCapture(self.modules, lambda name, a: sides[name][1].apply(_as_tokens(a))) as capture,
        ):
            losses = forward_losses(self.model, batch)
            output_grads = capture.output_gradients(losses.sum())
            parts = []
            for name in self.modules:
                out_side = sides[name][0]
                total = None
                for a_proj, g in zip(capture.inputs[name], output_grads[name]):
                    g_proj = out_side.apply(_as_tokens(g))
                    contribution = torch.einsum("nto,nti->noi", g_proj, a_proj)
                    total = contribution if total is None else total + contribution
                parts.append(total.flatten(1))
        return torch.cat(parts, dim=1), losses.detach()

    def iter_features(self, sequences: list[TokenSequence]) -> Iterator[tuple[list[int], torch.Tensor, torch.Tensor]]:
        """``(indices, features, losses)`` per length-sorted batch: for streaming to a store."""
        device = model_device(self.model)
        for indices in length_sorted_batches(sequences, self.config.batch_size):
            batch = collate([sequences[i] for i in indices], self.pad_token_id, device)
            features, losses = self.batch_features(batch)
            yield indices, features, losses

    def features(self, sequences: list[TokenSequence]) -> tuple[torch.Tensor, torch.Tensor]:
        """Features ``[n, dim]`` (float32) and losses ``[n]`` of all sequences, in their order."""
        features = torch.zeros(len(sequences), self.dim)
        losses = torch.zeros(len(sequences))
        for indices, batch_features, batch_losses in self.iter_features(sequences):
            features[indices] = batch_features.cpu()
            losses[indices] = batch_losses.cpu()
        return features, losses


def policy_gradient_features(
    row_features: torch.Tensor, advantages: torch.Tensor, group_index: torch.Tensor, num_groups: int
) -> torch.Tensor:
    """One feature per GRPO group from per-completion NLL features.

    A group's policy-gradient loss is ``(1/G) sum_j A_j * NLL_j`` (= minus the advantage-
    weighted mean log-likelihood of its ``G`` completions), so its gradient is the
    advantage-weighted mean of the completions' NLL gradients, and projection is linear.
    Like every feature here it is the gradient of a loss to *minimise*; a group whose
    advantages are all zero (all rewards equal) gets the zero vector.

    Args:
        row_features: ``[rows, dim]`` NLL features, one row per completion.
        advantages: ``[rows]`` GRPO advantages.
        group_index: ``[rows]`` group of each row, in ``[0, num_groups)``.
    """
    sizes = torch.bincount(group_index, minlength=num_groups).clamp(min=1).to(row_features.dtype)
    weighted = row_features * (advantages.to(row_features.dtype) / sizes[group_index]).unsqueeze(1)
    out = torch.zeros(num_groups, row_features.shape[1], dtype=row_features.dtype, device=row_features.device)
    return out.index_add_(0, group_index.to(row_features.device), weighted)


def per_example_gradient_sq_norms(
    model: nn.Module, batch: dict[str, torch.Tensor], modules: dict[str, nn.Linear]
) -> torch.Tensor:
    """Exact squared per-example gradient norms over ``modules``' weights: ``[n]``.

    From the factors, ``||sum_t g_t a_t^T||_F^2 = sum_{t,t'} (g_t.g_t')(a_t.a_t')``: cost
    ``T^2 (in + out)`` per example instead of ``T in out`` for the explicit gradient; the
    cheaper of the two is used per layer.
    """
    with feature_mode(model), LinearCapture(modules, lambda name, a: _as_tokens(a).float()) as capture:
        losses = forward_losses(model, batch)
        output_grads = capture.output_gradients(losses.sum())
        total = torch.zeros(batch["input_ids"].shape[0], device=losses.device)
        for name, module in modules.items():
            a = torch.cat(capture.inputs[name], dim=1)
            g = torch.cat([_as_tokens(x).float() for x in output_grads[name]], dim=1)
            tokens = a.shape[1]
            if tokens * (module.in_features + module.out_features) <= module.in_features * module.out_features:
                total += ((g @ g.transpose(1, 2)) * (a @ a.transpose(1, 2))).sum((1, 2))
            else:
                total += torch.einsum("nto,nti->noi", g, a).pow(2).sum((1, 2))
    return total.detach()


def model_fingerprint(model: nn.Module) -> str:
    """A short hash of the model's parameters (names, shapes and a sample of values).

    Cheap even for large models: per parameter it reads the first and last 256 values and
    the sum, which any training step changes.
    """
    import hashlib

    digest = hashlib.sha256()
    for name, param in model.named_parameters():
        flat = param.detach().flatten()  # slices and a float32 sum: no full copy of a large weight
        sample = torch.cat([flat[:256].float(), flat[-256:].float(), flat.sum(dtype=torch.float32).reshape(1)])
        digest.update(name.encode())
        digest.update(str(tuple(param.shape)).encode())
        digest.update(sample.cpu().numpy().tobytes())
    return digest.hexdigest()[:16]
