"""RMSProp as TensorFlow 1 runs it, for recipes that claim the DualGAN authors' code.

Every version of that code calls `tf.train.RMSPropOptimizer(lr, decay=0.9)` and keeps TF's
defaults (momentum 0, epsilon 1e-10). TF starts the mean square at 1, so the first steps move
each weight by about lr·g; torch's RMSprop starts it at 0 and moves by about lr·sign(g)/√(1−α),
3.2·lr at α 0.9 and 10·lr at its default α 0.99. The update, in TF's own order
(training_ops.cc, ApplyRMSProp):

    ms  += (g² − ms)·(1 − decay)
    mom  = momentum·mom + lr·g / sqrt(ms + eps)
    w   -= mom
"""
import torch


class TFRMSprop(torch.optim.Optimizer):
    """`weight_decay` adds wd·w to the gradient first, as torch's optimizers do (TF's has none;
    keep 0 to match it). The state holds tensors only (`square_avg`, and `momentum_buffer` when
    momentum > 0), so it round-trips through safetensors."""

    def __init__(self, params, lr: float = 1e-3, decay: float = 0.9, eps: float = 1e-10,
                 momentum: float = 0.0, weight_decay: float = 0.0):
        for name, v, lo, hi in (("lr", lr, 0.0, None), ("decay", decay, 0.0, 1.0), ("eps", eps, 0.0, None),
                                ("momentum", momentum, 0.0, None), ("weight_decay", weight_decay, 0.0, None)):
            if not isinstance(v, (int, float)) or v != v or v < lo or (hi is not None and v >= hi):
                bound = f"in [{lo}, {hi})" if hi is not None else f">= {lo}"
                raise ValueError(f"TFRMSprop: {name} must be a number {bound}, got {v!r}")
        super().__init__(params, dict(lr=float(lr), decay=float(decay), eps=float(eps),
                                      momentum=float(momentum), weight_decay=float(weight_decay)))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, eps, momentum, wd = group["lr"], group["eps"], group["momentum"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad
                if g.is_sparse:
                    raise RuntimeError("TFRMSprop does not support sparse gradients")
                if wd:
                    g = g.add(p, alpha=wd)
                state = self.state[p]
                if "square_avg" not in state:
                    state["square_avg"] = torch.ones_like(p, memory_format=torch.preserve_format)
                    if momentum:
                        state["momentum_buffer"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                ms = state["square_avg"]
                # (1 − decay) taken in the weights' precision, as TF's kernel does.
                one_minus = float(1.0 - torch.tensor(group["decay"], dtype=ms.dtype))
                ms.add_((g * g - ms) * one_minus)
                step = (g * lr) / (ms + eps).sqrt()
                if momentum:
                    buf = state["momentum_buffer"]
                    buf.mul_(momentum).add_(step)
                    step = buf
                p.sub_(step)
        return loss
