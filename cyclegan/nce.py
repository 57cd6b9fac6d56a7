"""CUT's contrastive objective (PatchNCE), as the authors' code computes it
(taesungp/contrastive-unpaired-translation at b3ac297: models/patchnce.py, models/cut_model.py).

A patch of the output G(x) should match the patch of the input x at the same place better than
the input's other patches. Features come from G's own encoder (the first Sequential entries,
`CutGenerator.forward(x, layers, encode_only=True)`), pass through the MLP heads
(`PatchHeads`), and the loss is InfoNCE per layer with temperature 0.07:
  logits of query i = [q_i·k_i, q_i·k_j for every j of the same image] / τ,
where the j = i entry is set to -10 before the division (the authors' mask: the positive is
counted once), and the target is index 0. Keys are detached. Per layer the loss is the mean over
all patches of the batch; the NCE loss is the mean over layers. CUT adds the same loss on
(y, G(y)) and averages the two; FastCUT feeds G a horizontally flipped batch with p 0.5 and
flips the query features back.

How one training loop drives CUT (design note for the Trainer)
--------------------------------------------------------------
Nets: G (CutGenerator), D (CutDiscriminator), F (PatchHeads); one direction, no G_BA. Build F
up front, `PatchHeads(G.feature_channels(nce_layers), nc)`, so all optimizers exist at init (the
authors make F in a first forward/backward, data_dependent_initialize, and its Adam after).
Three Adams, lr 2e-4, β (0.5, 0.999), the same linear decay. Per batch:
  1. fake_B, idt_B, flipped = cut_generate(G, real_A, real_B, nce_idt, flip_equivariance)
  2. D step: 0.5·(lsgan(D(fake_B.detach()), 0) + lsgan(D(real_B), 1)); no image pool
  3. G+F step on the same fake_B: λ_GAN·lsgan(D(fake_B), 1) + cut_nce(...)["total"]; zero G's
     and F's grads, backward, step both.
Preset fields: one direction; lambda_nce (1 CUT / 10 FastCUT); nce_layers (0,4,8,12,16);
nce_idt (True / False); num_patches 256; nce_temperature 0.07; nce_mlp_width 256;
flip_equivariance (False / True); nce_negatives_from_minibatch False; pool_size 0; xavier init
gain 0.02 (the nets do it when built: init_std None keeps it); 200+200 epochs CUT, 150+50
FastCUT; no resize-crop jitter in the decay epochs (unaligned_dataset.py). F is training state:
in the resume checkpoint, not in the exported model.
Cost per step, fwd+bwd multiply-adds at 256 px (torch FlopCounterMode): CycleGAN 946 GMAC,
CUT 718 (0.76×), FastCUT 388 (0.41×). CycleGAN runs 6 G and 6 D passes; CUT 2 G passes (x, y in
one batch), 4 encoder passes to resblock 5 (0.54 of a G pass) and 3 D passes; FastCUT 1, 2, 3.
The anti-aliased nets cost more per pass (G 64.1 vs 49.6 GMAC, D 6.4 vs 3.1): stride-1 convs
before each blur-pool, 3×3 convs at the upsampled size.
"""
import torch
import torch.nn.functional as F

from .errors import UserInputError


def patch_nce(q: torch.Tensor, k: torch.Tensor, tau: float = 0.07,
              negatives_from_minibatch: bool = False) -> torch.Tensor:
    """PatchNCE per query patch. q, k: (B, P, C), L2-normalised, same locations in the same
    order. Negatives are the other patches of the same image, or of the whole batch when
    `negatives_from_minibatch` (the authors' single-image setting). Returns (B, P) losses."""
    if q.shape != k.shape or q.dim() != 3:
        raise UserInputError(f"PatchNCE needs query and key of the same (B, P, C) shape, got "
                             f"{tuple(q.shape)} and {tuple(k.shape)}")
    b, p, c = q.shape
    k = k.detach()
    l_pos = (q * k).sum(-1, keepdim=True)                               # (B, P, 1)
    groups = (1, b * p) if negatives_from_minibatch else (b, p)
    qg, kg = q.reshape(*groups, c), k.reshape(*groups, c)
    l_neg = torch.bmm(qg, kg.transpose(1, 2))                           # (G, N, N)
    eye = torch.eye(groups[1], dtype=torch.bool, device=q.device)
    l_neg = l_neg.masked_fill(eye, -10.0).reshape(b, p, groups[1])
    logits = torch.cat([l_pos, l_neg], dim=-1) / tau
    return -F.log_softmax(logits, dim=-1)[..., 0]


def nce_loss(G, heads, src: torch.Tensor, tgt: torch.Tensor, layers, num_patches: int = 256,
             tau: float = 0.07, flipped: bool = False, negatives_from_minibatch: bool = False,
             generator: torch.Generator | None = None, src_feats=None) -> torch.Tensor:
    """The authors' calculate_NCE_loss without λ: mean over `layers` of the mean PatchNCE between
    queries from G's encoder on `tgt` (= G(src)) and keys from `src`, at shared random patches.
    `flipped`: tgt came from a horizontally flipped src, so its features are flipped back.
    `src_feats`: the key features if the caller already has them (e.g. from
    `G(src, layers)` in the translating pass, unflipped); they are detached either way."""
    layers = list(layers)
    feat_q = G(tgt, layers, encode_only=True)
    if flipped:
        feat_q = [torch.flip(f, [3]) for f in feat_q]
    if src_feats is None:
        with torch.no_grad():       # keys are detached anyway: no graph to keep
            src_feats = G(src, layers, encode_only=True)
    feat_k = [f.detach() for f in src_feats]
    k_pool, ids = heads(feat_k, num_patches, None, generator=generator)
    q_pool, _ = heads(feat_q, num_patches, ids)
    total = sum(patch_nce(q, k, tau, negatives_from_minibatch).mean() for q, k in zip(q_pool, k_pool))
    return total / len(layers)


def cut_generate(G, real_A: torch.Tensor, real_B: torch.Tensor | None = None, nce_idt: bool = True,
                 flip_equivariance: bool = False, generator: torch.Generator | None = None):
    """The authors' CUTModel.forward in training: one G pass on cat(A, B) when `nce_idt`, on a
    horizontally flipped batch with p 0.5 when `flip_equivariance`. Returns (fake_B, idt_B or
    None, flipped)."""
    if nce_idt and real_B is None:
        raise UserInputError("identity NCE (nce_idt) needs a batch of the target domain")
    x = torch.cat([real_A, real_B]) if nce_idt else real_A
    flipped = bool(flip_equivariance and torch.rand((), generator=generator, device="cpu").item() < 0.5)
    if flipped:
        x = torch.flip(x, [3])
    fake = G(x)
    n = real_A.shape[0]
    return fake[:n], (fake[n:] if nce_idt else None), flipped


def cut_nce(G, heads, real_A, fake_B, real_B=None, idt_B=None, *, layers, lambda_nce: float,
            num_patches: int = 256, tau: float = 0.07, flipped: bool = False,
            negatives_from_minibatch: bool = False, generator: torch.Generator | None = None) -> dict:
    """CUT's NCE term of the G loss: λ·NCE(A, G(A)), and with identity NCE (idt_B given)
    λ·(NCE(A, G(A)) + NCE(B, G(B)))/2. Returns {"nce_x", "nce_y" (or None), "total"}, the
    parts already times λ as the authors log them."""
    kw = dict(layers=layers, num_patches=num_patches, tau=tau, flipped=flipped,
              negatives_from_minibatch=negatives_from_minibatch, generator=generator)
    nce_x = lambda_nce * nce_loss(G, heads, real_A, fake_B, **kw)
    if idt_B is None:
        return {"nce_x": nce_x, "nce_y": None, "total": nce_x}
    nce_y = lambda_nce * nce_loss(G, heads, real_B, idt_B, **kw)
    return {"nce_x": nce_x, "nce_y": nce_y, "total": 0.5 * (nce_x + nce_y)}


__all__ = ["patch_nce", "nce_loss", "cut_generate", "cut_nce"]
