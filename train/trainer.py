"""One training loop for CycleGAN, DiscoGAN and DualGAN. Everything that differs between them
is a field of the preset (losses, weights, optimizer, which nets step on which batch); nothing
here asks which architecture it is running."""
import math
import os
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from safetensors.torch import load_file
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP
from torchvision.utils import make_grid, save_image

from cyclegan import losses
from cyclegan.checkpoints import WEIGHTS, save_model
from cyclegan.data import DemoDomain, open_unpaired
from cyclegan.evaluate import psnr
from cyclegan.errors import UserInputError
from cyclegan.model import CycleModel
from cyclegan.optim import TFRMSprop
from cyclegan.presets import Preset
from cyclegan.weights import load_state

from .config import TrainConfig, resumed
from .feed import SeededItems, batch_stream, mix
from .runs import RunDir
from .state import flatten_optimizer, read_state, unflatten_optimizer, write_state


class Diverged(RuntimeError):
    """A loss became NaN or Inf; the run stops and keeps its last good checkpoint."""


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise UserInputError(f"unknown device {name!r}; use auto, cpu, cuda, cuda:N or mps") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UserInputError("device 'cuda' was asked for but no CUDA GPU is available; use --device cpu or auto")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise UserInputError("device 'mps' was asked for but is not available here; use --device cpu or auto")
    return dev


def cycle_length(p: Preset) -> int:
    """Batches in one turn of the preset's schedule (1 when every batch trains both)."""
    return (p.d_only_batches + p.g_only_batches) or 1


def batch_ops(p: Preset, step: int) -> tuple[str, ...]:
    """What the batch of `step` trains, in order: "D" a discriminator step, "G" a generator step.
    With a critic window, one step is the window's critic steps and then one generator step."""
    if p.critic_window:
        return ("D",) * p.critic_window + ("G",)
    if p.d_only_batches or p.g_only_batches:
        return ("D",) if step % cycle_length(p) < p.d_only_batches else ("G",) * p.g_steps_per_batch
    g = ("G",) * p.g_steps_per_batch
    return ("D", *g) if p.d_first else (*g, "D")


def per_sample(net: nn.Module) -> bool:
    """True when each sample's output ignores the rest of the batch (no BatchNorm), so passes
    can be concatenated into one batch without changing the mathematics."""
    return not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in net.modules())


def init_weights(net: nn.Module, std: float | None) -> None:
    if std is None:
        return
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.modules.batchnorm._BatchNorm) and m.weight is not None:
            nn.init.normal_(m.weight, 1.0, std)
            nn.init.zeros_(m.bias)


class ImagePool:
    """CycleGAN's history of generated images: D sees a mix of current and past fakes."""

    def __init__(self, size: int):
        self.size = size
        self.images: list[torch.Tensor] = []

    def query(self, batch: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        if self.size == 0:
            return batch
        out = []
        for img in batch.detach():
            if len(self.images) < self.size:
                self.images.append(img.clone())
                out.append(img)
            elif torch.rand((), generator=gen).item() < 0.5:
                i = int(torch.randint(0, self.size, (), generator=gen))
                out.append(self.images[i].clone())
                self.images[i] = img.clone()
            else:
                out.append(img)
        return torch.stack(out)


class GeneratorPair(nn.Module):
    """All generator passes of one G step in one forward (one call is what DDP wants)."""

    def __init__(self, G_AB: nn.Module, G_BA: nn.Module, fuse: bool):
        super().__init__()
        self.G_AB, self.G_BA, self.fuse = G_AB, G_BA, fuse

    def forward(self, real_A, real_B, identity: bool) -> dict:
        n = real_A.size(0)
        out = {}
        if self.fuse:
            ab = self.G_AB(torch.cat([real_A, real_B]) if identity else real_A)
            out["fake_B"] = ab[:n]
            ba_in = [real_B, real_A, out["fake_B"]] if identity else [real_B, out["fake_B"]]
            ba = self.G_BA(torch.cat(ba_in))
            out["fake_A"] = ba[:n]
            if identity:
                out["idt_B"], out["idt_A"], out["rec_A"] = ab[n:], ba[n:2 * n], ba[2 * n:]
            else:
                out["rec_A"] = ba[n:]
            out["rec_B"] = self.G_AB(out["fake_A"])
        else:
            out["fake_B"] = self.G_AB(real_A)
            out["rec_A"] = self.G_BA(out["fake_B"])
            out["fake_A"] = self.G_BA(real_B)
            out["rec_B"] = self.G_AB(out["fake_A"])
            if identity:
                out["idt_B"] = self.G_AB(real_B)
                out["idt_A"] = self.G_BA(real_A)
        return out


class DiscriminatorPair(nn.Module):
    """Both discriminators' losses in one forward: real and (pooled) fake images."""

    def __init__(self, D_A: nn.Module, D_B: nn.Module, preset: Preset, fuse: bool):
        super().__init__()
        self.D_A, self.D_B, self.p, self.fuse = D_A, D_B, preset, fuse

    def _one(self, D, real, fake) -> torch.Tensor:
        p = self.p
        if self.fuse:
            pred = D(torch.cat([real, fake]))
            pred_real, pred_fake = pred[:real.size(0)], pred[real.size(0):]
        else:
            pred_real, pred_fake = D(real), D(fake)
        loss = p.d_loss_scale * (losses.adversarial(p.gan_loss, pred_real.float(), True, p.d_outputs_probabilities)
                                 + losses.adversarial(p.gan_loss, pred_fake.float(), False, p.d_outputs_probabilities))
        if p.gradient_penalty > 0:
            loss = loss + p.gradient_penalty * losses.gradient_penalty(D, real, fake)
        return loss

    def forward(self, real_A, fake_A, real_B, fake_B) -> dict:
        return {"D_A": self._one(self.D_A, real_A, fake_A), "D_B": self._one(self.D_B, real_B, fake_B)}


def _set_requires_grad(nets, flag: bool) -> None:
    for net in nets:
        for prm in net.parameters():
            prm.requires_grad_(flag)


class Trainer:
    """One loop for every preset: it reads the preset's fields (losses, weights, optimizer, which
    nets step on which batch) and never asks which architecture it runs, so a new architecture
    is a new preset, not a new loop. Every random draw is a function of (seed, step), which is
    what makes stopping and resuming give the same weights as training in one go."""

    def __init__(self, cfg: TrainConfig, resume: bool = False, log=None):
        self.log = log or (lambda msg: None)
        self.folder = RunDir(cfg.out)
        self.run_dir = self.folder.path
        saved = self.folder.read_config() if resume else None
        if saved:
            cfg = resumed(saved, cfg.to_dict())
        self.cfg = cfg
        self.preset = p = cfg.preset()
        self.rank = int(os.environ.get("RANK", 0))
        self.world = int(os.environ.get("WORLD_SIZE", 1))
        self.device = self._setup_device()
        if self.world > 1 and p.gradient_penalty > 0:
            raise UserInputError("WGAN-GP needs double backward, which DistributedDataParallel does not support; "
                                 "train it on one process")
        if cfg.threads:
            torch.set_num_threads(cfg.threads)

        self.data = open_unpaired(cfg.data, size=p.image_size, preprocess=p.preprocess, flip=p.flip,
                                  value_range=p.value_range, workdir=self.folder.data_dir)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            model = CycleModel(p, domains=self.data.domains, with_discriminators=True,
                               provenance={"trained_with": "cyclegan-studio", "data": cfg.data, "arch": cfg.arch,
                                           "recipe": p.recipe, "scale": p.scale, "seed": cfg.seed})
            for net in (model.G_AB, model.G_BA, model.D_A, model.D_B):
                init_weights(net, p.init_std)
        self.model = model.to(self.device).train()
        # channels_last only on CUDA: on CPU, NCHW convs measured faster (`python -m bench ablate
        # --variants cl_cpu`) and group norm is exact there.
        self.channels_last = cfg.channels_last and self.device.type == "cuda"
        if self.channels_last:
            self.model.to(memory_format=torch.channels_last)
        self.generators = [model.G_AB, model.G_BA]
        self.discriminators = [model.D_A, model.D_B]
        self.opt_G = self._optimizer([q for g in self.generators for q in g.parameters()], p.lr_g)
        self.opt_D = self._optimizer([q for d in self.discriminators for q in d.parameters()], p.lr_d)
        self.pools = {"A": ImagePool(p.pool_size), "B": ImagePool(p.pool_size)}
        self.step = 0
        self.last_sample_scores: dict | None = None
        self.amp = self.device.type == "cuda" and cfg.amp
        self._build_pairs()

        if resume:
            self._resume()
        elif self.folder.complete_checkpoints() and self.rank == 0:
            raise UserInputError(f"'{self.run_dir}' already holds a run; pass --resume to continue it, or choose another --out")
        self.samples = self._sample_batch()
        self._start_feeds()
        if self.rank == 0:
            self.folder.create()
            self.folder.write_config(self.cfg.to_dict())

    # --- set-up --------------------------------------------------------------------------


    def _setup_device(self) -> torch.device:
        if self.world > 1:
            if not dist.is_initialized():
                backend = "nccl" if torch.cuda.is_available() and self.cfg.device in ("auto", "cuda") else "gloo"
                if backend == "gloo" and os.environ.get("MASTER_ADDR", "127.0.0.1") in ("127.0.0.1", "localhost", "::1"):
                    # On one machine, keep gloo on loopback: the hostname's interface may be
                    # unroutable (containers, sandboxes) and gloo then hangs at connect.
                    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
                dist.init_process_group(backend)
            if dist.get_backend() == "nccl":
                local = int(os.environ.get("LOCAL_RANK", 0))
                torch.cuda.set_device(local)
                return torch.device("cuda", local)
            return torch.device("cpu")
        return pick_device(self.cfg.device)

    def _optimizer(self, params, lr):
        p = self.preset
        if p.optimizer == "adam":
            # Fused: one kernel over all parameters (CPU since torch 2.4); it measured faster than
            # foreach (`python -m bench ablate --variants adam_foreach` times the difference).
            fused = self.device.type in ("cpu", "cuda")
            return torch.optim.Adam(params, lr=lr, betas=p.betas, weight_decay=p.weight_decay,
                                    **({"fused": True} if fused else {"foreach": True}))
        if p.optimizer == "rmsprop":
            return torch.optim.RMSprop(params, lr=lr, weight_decay=p.weight_decay, foreach=True)
        if p.optimizer == "rmsprop-tf":
            # tf.train.RMSPropOptimizer(lr, decay=0.9), as every DualGAN code version calls it.
            return TFRMSprop(params, lr=lr, decay=0.9, weight_decay=p.weight_decay)
        raise UserInputError(f"unknown optimizer {p.optimizer!r}; use adam, rmsprop or rmsprop-tf")

    def _build_pairs(self):
        fuse_g = self.cfg.fuse_passes and all(per_sample(g) for g in self.generators)
        fuse_d = self.cfg.fuse_passes and all(per_sample(d) for d in self.discriminators)
        self.gpair = GeneratorPair(self.model.G_AB, self.model.G_BA, fuse_g)
        self.dpair = DiscriminatorPair(self.model.D_A, self.model.D_B, self.preset, fuse_d)
        if self.cfg.compile:
            self.gpair = torch.compile(self.gpair)
            self.dpair = torch.compile(self.dpair)
        if self.world > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.gpair = DDP(self.gpair, device_ids=ids)
            self.dpair = DDP(self.dpair, device_ids=ids)

    def _start_feeds(self):
        p, c = self.preset, self.cfg
        self._window: list = []
        self.feed_A = batch_stream(self.data.domain_a, p.batch_size, c.seed, 1, self.step, self.rank, self.world, c.workers)
        self.feed_B = batch_stream(self.data.domain_b, p.batch_size, c.seed, 2, self.step, self.rank, self.world, c.workers)

    def _sample_batch(self, n: int = 4):
        """Fixed images for the sample grids, so successive grids are comparable. On a demo world
        they are held-out test scenes in both looks: each row's real B is the ground truth of its
        fake B and real A that of its fake A (`sample_scores` measures the grid against them)."""
        p = self.preset
        if isinstance(self.data.domain_a, DemoDomain):
            test = open_unpaired(self.cfg.data, size=p.image_size, preprocess="resize", flip=False,
                                 value_range=p.value_range, split="test", demo_n=n)
            return (torch.stack([test.domain_a[i] for i in range(n)]),
                    torch.stack([test.domain_b[i] for i in range(n)]))

        def pick(ds, tag):
            items = SeededItems(ds)
            return torch.stack([items[(i % len(ds), mix(self.cfg.seed, tag, i, 99))] for i in range(n)])
        return pick(self.data.domain_a, 1), pick(self.data.domain_b, 2)

    # --- one step ------------------------------------------------------------------------
    def lr_factor(self, step: int) -> float:
        """Constant, then linear decay to zero over the last `lr_decay_fraction` of the steps."""
        decay = int(round(self.cfg.steps * self.preset.lr_decay_fraction))
        if decay <= 0:
            return 1.0
        start = self.cfg.steps - decay
        return 1.0 if step < start else max(0.0, 1.0 - (step - start + 1) / (decay + 1))

    def _autocast(self):
        return torch.autocast("cuda", dtype=torch.bfloat16) if self.amp else nullcontext()

    def _to_device(self, x):
        x = x.to(self.device, non_blocking=True)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def _next_batches(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """The (A, B) batches this step trains on: one, or a critic window's (the window slides by
        one batch per step; after a resume it refills from the feed, which starts at the step)."""
        n = self.preset.critic_window or 1
        while len(self._window) < n:
            self._window.append((self._to_device(next(self.feed_A)), self._to_device(next(self.feed_B))))
        batches = list(self._window)
        self._window.pop(0)
        return batches

    def train_step(self) -> dict:
        p, s = self.preset, self.step
        batches = self._next_batches()
        real_A, real_B = batches[0]
        torch.manual_seed(mix(self.cfg.seed, s, self.rank, 11))     # dropout, WGAN-GP: a function of the step
        gen = torch.Generator().manual_seed(mix(self.cfg.seed, s, self.rank, 13))
        f = self.lr_factor(s)
        for opt, lr in ((self.opt_G, p.lr_g), (self.opt_D, p.lr_d)):
            for group in opt.param_groups:
                group["lr"] = lr * f
        out: dict = {}
        if p.critic_window:
            self._window_step(batches, gen, out)
            self.lr = p.lr_g * f
            self.step += 1
            return out
        fakes = None
        for op in batch_ops(p, s):
            if op == "G":
                fakes = self._g_step(real_A, real_B, s, out)
            elif op == "D":
                if fakes is None:
                    with torch.no_grad(), self._autocast():
                        fakes = (self.model.G_BA(real_B), self.model.G_AB(real_A))
                self._d_step(real_A, real_B, fakes, gen, out)
        self.lr = p.lr_g * f
        self.step += 1
        return out

    def _window_step(self, batches, gen, out):
        """DualGAN Apr-2017: a critic step on each batch of the window, then one generator step on
        an A batch and a B batch each picked at random from the window."""
        for real_A, real_B in batches:
            with torch.no_grad(), self._autocast():
                fakes = (self.model.G_BA(real_B), self.model.G_AB(real_A))
            self._d_step(real_A, real_B, fakes, gen, out)
        pick_a = int(torch.randint(len(batches), (), generator=gen))
        pick_b = int(torch.randint(len(batches), (), generator=gen))
        self._g_step(batches[pick_a][0], batches[pick_b][1], self.step, out)

    def _g_step(self, real_A, real_B, step, out):
        p, m = self.preset, self.model
        _set_requires_grad(self.discriminators, False)
        identity = p.lambda_identity > 0
        with self._autocast():
            g = self.gpair(real_A, real_B, identity)
            adv, fm = [], []
            for D, fake, real in ((m.D_B, g["fake_B"], real_B), (m.D_A, g["fake_A"], real_A)):
                if p.feature_matching_weight > 0:
                    pred, f_fake = D.forward_features(fake)
                    with torch.no_grad():
                        _, f_real = D.forward_features(real)
                    fm.append(losses.feature_matching(f_real, f_fake))
                else:
                    pred = D(fake)
                adv.append(losses.adversarial(p.gan_loss, pred.float(), True, p.d_outputs_probabilities))
        rec = lambda x, y: losses.reconstruction(p.recon_loss, x.float(), y.float())
        out["G_AB"], out["G_BA"] = adv[0].detach(), adv[1].detach()
        adv_total = p.gan_weight * (adv[0] + adv[1])
        if fm:
            out["fm_B"], out["fm_A"] = fm[0].detach(), fm[1].detach()
            adv_total = adv_total + p.feature_matching_weight * (fm[0] + fm[1])
        cyc_A = rec(g["rec_A"], real_A) * p.lambda_cycle
        cyc_B = rec(g["rec_B"], real_B) * p.lambda_cycle
        out["cycle_A"], out["cycle_B"] = cyc_A.detach(), cyc_B.detach()
        rec_total = cyc_A + cyc_B
        if identity:
            idt_A = rec(g["idt_A"], real_A) * p.lambda_cycle * p.lambda_identity
            idt_B = rec(g["idt_B"], real_B) * p.lambda_cycle * p.lambda_identity
            out["idt_A"], out["idt_B"] = idt_A.detach(), idt_B.detach()
            rec_total = rec_total + idt_A + idt_B
        rate = losses.recon_rate(p.recon_rate_schedule, step)
        total = adv_total + rec_total if rate is None else (1 - rate) * adv_total + rate * rec_total
        out["G_total"] = total.detach()
        self.opt_G.zero_grad(set_to_none=True)
        total.backward()
        self.opt_G.step()
        _set_requires_grad(self.discriminators, True)
        return g["fake_A"].detach(), g["fake_B"].detach()

    def _d_step(self, real_A, real_B, fakes, gen, out):
        p = self.preset
        fake_A = self.pools["A"].query(fakes[0], gen)
        fake_B = self.pools["B"].query(fakes[1], gen)
        with self._autocast():
            d = self.dpair(real_A, fake_A, real_B, fake_B)
        out["D_A"], out["D_B"] = d["D_A"].detach(), d["D_B"].detach()
        self.opt_D.zero_grad(set_to_none=True)
        (d["D_A"] + d["D_B"]).backward()
        self.opt_D.step()
        if p.clip_weights:
            with torch.no_grad():
                for net in self.discriminators:
                    for prm in net.parameters():
                        prm.clamp_(-p.clip_weights, p.clip_weights)

    # --- the loop --------------------------------------------------------------------------
    def train(self, hooks=None) -> str:
        """Run until cfg.steps or until hooks.should_stop(); returns 'finished' or 'stopped'.
        Raises Diverged (after keeping the last good checkpoint) on NaN/Inf."""
        c = self.cfg
        hooks = hooks or Hooks()
        pending: list[tuple[int, dict]] = []
        t_last, s_last = time.perf_counter(), self.step
        status = "finished"
        while self.step < c.steps:
            if hooks.should_stop():
                status = "stopped"
                break
            hooks.wait_if_paused()
            if hooks.should_stop():
                status = "stopped"
                break
            pending.append((self.step + 1, self.train_step()))
            s = self.step
            due_ckpt = s % c.checkpoint_every == 0 or s == c.steps
            if s % c.log_every == 0 or due_ckpt or s == 1 or hooks.should_stop():
                now = time.perf_counter()
                record = self._log(pending, (now - t_last) / max(1, s - s_last))
                t_last, s_last = now, s
                pending = []
                hooks.on_log(record)
            if (s == 1 or s % c.sample_every == 0 or s == c.steps) and self.rank == 0:
                hooks.on_sample(self.write_sample())
            if due_ckpt:
                hooks.on_checkpoint(self.save_checkpoint())
        if pending:
            hooks.on_log(self._log(pending, (time.perf_counter() - t_last) / max(1, self.step - s_last)))
        if status == "stopped" and not self.folder.complete_checkpoints()[:1] == [self.folder.checkpoint_path(self.step)]:
            if self.step > 0:
                hooks.on_checkpoint(self.save_checkpoint())
        return status

    def _log(self, pending, sec_per_step) -> dict:
        """The only GPU→CPU sync: losses of the last few steps, read together."""
        keys = sorted({k for _, d in pending for k in d})
        for step, d in pending:
            vals = torch.stack([d[k].float().cpu() for k in d])
            if not torch.isfinite(vals).all():
                bad = [k for k in d if not math.isfinite(float(d[k]))]
                raise Diverged(f"diverged at step {step}: {', '.join(bad)} became NaN/Inf")
        record = {"step": pending[-1][0]}
        for k in keys:
            vals = [float(d[k]) for _, d in pending if k in d]
            record[k] = sum(vals) / len(vals)
        images = self.preset.batch_size * self.world
        record["lr"] = self.lr
        record.update({"sec_per_step": sec_per_step, "images_per_s": images / sec_per_step if sec_per_step > 0 else 0.0,
                       "time": time.time()})
        if self.rank == 0:
            self.folder.append_metrics(record)
        return record

    # --- samples and checkpoints ---------------------------------------------------------------
    @torch.no_grad()
    def sample_columns(self) -> list[torch.Tensor]:
        """[real A, fake B, rec A, real B, fake A, rec B], each [n, 3, H, W] in [0, 1] on the CPU,
        translated the way the finished model translates by default (its recipe's test mode)."""
        m, (lo, hi) = self.model, self.preset.value_range
        a, b = (((x - lo) / (hi - lo)).clamp(0, 1) for x in self.samples)
        m.eval()
        try:
            with self._autocast():
                fb = m.translate_tensor(a, "a2b"); ra = m.translate_tensor(fb, "b2a", seed=1)
                fa = m.translate_tensor(b, "b2a"); rb = m.translate_tensor(fa, "a2b", seed=1)
        finally:
            m.train()
        return [c.float().cpu() for c in (a, fb, ra, b, fa, rb)]

    def sample_grid(self, cols: list[torch.Tensor] | None = None) -> torch.Tensor:
        """[3, H, W] in [0, 1], one row per sample: real A | fake B | rec A | real B | fake A | rec B."""
        cols = cols or self.sample_columns()
        tiles = torch.stack(cols, 1).flatten(0, 1)   # sample by sample, 6 each
        return make_grid(tiles, nrow=len(cols), padding=0)

    def sample_scores(self, cols: list[torch.Tensor] | None = None) -> dict | None:
        """PSNR (dB) of the grid's translations against their ground truth on a demo world (whose
        grid rows show one scene in both looks), beside doing nothing; None for other data."""
        if not isinstance(self.data.domain_a, DemoDomain):
            return None
        a, fb, _, b, fa, _ = cols or self.sample_columns()
        return {"a2b": float(psnr(fb, b).mean()), "b2a": float(psnr(fa, a).mean()),
                "identity": float(psnr(a, b).mean())}

    def write_sample(self) -> Path:
        """The grid as the run's sample for this step (written whole, then renamed into place);
        on a demo world its scores go to `last_sample_scores`."""
        path = self.folder.sample_path(self.step)
        tmp = path.with_suffix(".tmp.png")
        cols = self.sample_columns()
        save_image(self.sample_grid(cols), tmp)
        os.replace(tmp, path)
        self.last_sample_scores = self.sample_scores(cols)
        return path

    def training_state(self) -> tuple[dict, dict]:
        tensors: dict = {}
        meta = {"step": self.step, "config": self.cfg.to_dict(),
                "opt_G": flatten_optimizer("opt_G", self.opt_G.state_dict(), tensors),
                "opt_D": flatten_optimizer("opt_D", self.opt_D.state_dict(), tensors),
                "pools": {}}
        for name, pool in self.pools.items():
            meta["pools"][name] = len(pool.images)
            if pool.images:
                tensors[f"pool.{name}"] = torch.stack(pool.images).float().cpu().contiguous()
        # Every draw is seeded from (seed, step), so these are for inspection, not needed to resume.
        tensors["rng.torch"] = torch.get_rng_state()
        meta["rng_numpy"] = np.random.get_state()[1][:4].tolist()
        return meta, tensors

    def save_checkpoint(self) -> Path | None:
        """Rank 0 writes; a model folder that `cyclegan.load_model` opens, plus the training state."""
        if self.world > 1:
            dist.barrier()
        path = None
        if self.rank == 0:
            meta, tensors = self.training_state()
            prov = dict(self.model.provenance, step=self.step, steps=self.cfg.steps)
            self.model.provenance = prov

            def write(tmp: Path):
                save_model(self.model, tmp, include_discriminators=True)
                write_state(*RunDir.state_paths(tmp), meta, tensors)

            try:
                path = self.folder.write_checkpoint(self.step, write, keep=self.cfg.keep_checkpoints)
            except OSError as e:
                raise UserInputError(f"could not write the checkpoint at step {self.step}: {e.strerror or e} "
                                     f"(disk full?); the previous checkpoint is kept") from None
        if self.world > 1:
            dist.barrier()
        return path

    def _resume(self):
        for path in self.folder.complete_checkpoints():
            try:
                self.load_checkpoint(path)
                self.log(f"resumed from {path} (step {self.step})")
                return
            except Exception as e:  # any damage: fall back to the previous checkpoint
                self.log(f"skipping unreadable checkpoint {path.name}: {e}")
        self.log("no checkpoint to resume from; starting from step 0")

    def load_checkpoint(self, path: Path):
        meta, tensors = read_state(*RunDir.state_paths(path))
        weights = load_file(str(path / WEIGHTS))
        load_state(self.model, weights, f"'{path}'")
        self.model.to(self.device).train()
        self.opt_G.load_state_dict(unflatten_optimizer(meta["opt_G"], tensors))
        self.opt_D.load_state_dict(unflatten_optimizer(meta["opt_D"], tensors))
        for name, pool in self.pools.items():
            n = meta["pools"].get(name, 0)
            pool.images = [t.to(self.device) for t in tensors[f"pool.{name}"]] if n else []
        self.step = int(meta["step"])


class Hooks:
    """What a caller (CLI, background Run) hears from the loop; all optional."""

    def should_stop(self) -> bool:
        return False

    def wait_if_paused(self) -> None:
        pass

    def on_log(self, record: dict) -> None:
        pass

    def on_sample(self, path: Path) -> None:
        pass

    def on_checkpoint(self, path: Path | None) -> None:
        pass
