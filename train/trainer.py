"""One training loop for CycleGAN, DiscoGAN, DualGAN and CUT. Everything that differs between
them is a field of the preset (losses, weights, optimizer, which nets step on which batch, one
direction or two, PatchNCE); nothing here asks which architecture it is running."""
import math
import os
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP
from torchvision.utils import make_grid, save_image

from cyclegan import losses, threads, zoo
from cyclegan.checkpoints import WEIGHTS, save_model
from cyclegan.data import DemoDomain, open_unpaired, without_crop
from cyclegan.errors import UserInputError, write_error
from cyclegan.evaluate import psnr
from cyclegan.model import CycleModel
from cyclegan.nce import cut_generate, cut_nce
from cyclegan.nets.cut import PatchHeads, xavier_init_
from cyclegan.optim import TFRMSprop
from cyclegan.presets import Preset
from cyclegan.weights import load_state

from . import finetune
from .average import GeneratorAverage
from .config import TrainConfig, resumed
from .feed import SeededItems, batch_stream, mix
from .runs import RunDir
from .scoring import LiveScore
from .state import flatten_optimizer, load_optimizer, read_state, write_state
from .tensorboard import TensorBoardLog


class UnreadableData(UserInputError):
    """A training image that could not be read when a batch needed it (changed or damaged after
    the run's up-front check of every file)."""


class Diverged(RuntimeError):
    """A loss became NaN or Inf; the run stops and keeps its last good checkpoint (the message
    names it, or says that none was written yet)."""


THREADS_RECHECK_S = 20.0   # how often a run without --threads re-reads its usable cores (affinity, CPU quota)
WRITE_ERRORS = (OSError, SafetensorError)   # a full disk reaches safetensors' writer as its own error


def cpu_bf16_training() -> bool:
    """Train on CPU under bf16 autocast (float32 weights, optimizer and losses, as on CUDA) where
    the CPU has bf16 hardware (AVX-512 bf16 or AMX): on Zen 4 a quick step ran 1.45x and the paper
    step 1.9x a float32 one, with eval PSNR within the run-to-run spread (README, "Fast paths per
    CPU"). CYCLEGAN_CPU_BF16=0, CYCLEGAN_PRECISION=float32 or --no-amp keep float32."""
    from cyclegan.accel import cpu_flags, precision_setting
    from cyclegan.settings import env_bool
    if not env_bool("CYCLEGAN_CPU_BF16", True) or precision_setting() == "float32":
        return False
    return bool({"avx512_bf16", "amx_bf16"} & cpu_flags())


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


def init_net(net: nn.Module, preset: Preset) -> None:
    """The preset's initialisation: N(0, init_std) (CycleGAN, DualGAN), xavier-normal with gain
    init_gain (CUT's code), or torch's default (init_std None)."""
    if preset.init == "xavier":
        xavier_init_(net, preset.init_gain)
    elif preset.init == "normal":
        init_weights(net, preset.init_std)
    else:
        raise UserInputError(f"unknown init {preset.init!r}; use normal or xavier")


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
    """All generator passes of one G step in one forward (one call is what DDP wants): both
    directions with their cycles, or for a one-direction preset (no G_BA: CUT) G_AB on A (and on
    B, for identity NCE or identity L1) and the PatchNCE terms through the MLP heads."""

    def __init__(self, G_AB: nn.Module, G_BA: nn.Module | None, fuse: bool, preset: Preset | None = None,
                 heads: nn.Module | None = None):
        super().__init__()
        self.G_AB, self.G_BA, self.fuse, self.p, self.heads = G_AB, G_BA, fuse, preset, heads

    def forward(self, real_A, real_B, identity: bool, gen: torch.Generator | None = None) -> dict:
        if self.G_BA is None:
            return self._one_direction(real_A, real_B, identity, gen)
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

    def _one_direction(self, real_A, real_B, identity: bool, gen) -> dict:
        """CUT's forward (cyclegan.nce): one G pass on A, or on A and B together when the target
        images are needed (identity NCE or identity L1), on a flipped batch with p 0.5 under
        flip-equivariance; then PatchNCE between G's encoder features of input and output."""
        p = self.p
        fake_B, same_B, flipped = cut_generate(self.G_AB, real_A, real_B, p.nce_idt or identity,
                                               p.flip_equivariance, generator=gen)
        out = {"fake_B": fake_B}
        if identity:
            out["idt_B"] = same_B
        if self.heads is not None:
            out["nce"] = cut_nce(self.G_AB, self.heads, real_A, fake_B, real_B, same_B if p.nce_idt else None,
                                 layers=p.nce_layers, lambda_nce=p.lambda_nce, num_patches=p.num_patches,
                                 tau=p.nce_temperature, flipped=flipped, generator=gen)
        return out


class DiscriminatorPair(nn.Module):
    """Both discriminators' losses in one forward: real and (pooled) fake images; a
    one-direction model has D_B only."""

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
        return {name: self._one(D, real, fake) for name, D, real, fake in
                (("D_A", self.D_A, real_A, fake_A), ("D_B", self.D_B, real_B, fake_B)) if D is not None}


def _sum(xs: list):
    """xs[0] + xs[1] + ..., left to right (the order the two-direction losses were always added in)."""
    total = xs[0]
    for x in xs[1:]:
        total = total + x
    return total


def _set_requires_grad(nets, flag: bool) -> None:
    for net in nets:
        for prm in net.parameters():
            prm.requires_grad_(flag)


class Trainer:
    """One loop for every preset: it reads the preset's fields (losses, weights, optimizer, which
    nets step on which batch) and never asks which architecture it runs, so a new architecture
    is a new preset, not a new loop. Every random draw is a function of (seed, step), which is
    what makes stopping and resuming give the same weights as training in one go."""

    def __init__(self, cfg: TrainConfig, resume: bool = False, log=None, data_source: str | None = None,
                 workdir: str | os.PathLike | None = None, progress=None, cancel=None, init_source=None):
        """`data_source` opens the data from another place than cfg.data says (the app keeps an
        uploaded zip privately and records only 'upload:NAME' in the config); `workdir` is where
        a zip is unpacked (default RUN/data). `progress(done_bytes, total)` and `cancel` (an Event
        or a callable) serve the downloads an `official:` dataset or `--init` model may need
        before training (cyclegan/zoo.py). `init_source` (a loaded CycleModel, or a path) is what
        cfg.init names, already resolved by a caller that must not let the library open the
        spec itself (the app: its allow-list and the visitor's Hub token)."""
        self.log = log or (lambda msg: None)
        self.folder = RunDir(cfg.out)
        self.run_dir = self.folder.path
        saved = self.folder.read_config() if resume else None
        if saved:
            cfg = resumed(saved, cfg.to_dict())
        self.cfg = cfg
        p = cfg.preset()
        init_model, self.init_nets = None, None
        if saved and saved.get("init_nets"):        # a fine-tuning run resumed: the nets it started with
            self.init_nets = saved["init_nets"]
            p = finetune.fit(p, p.architecture, self.init_nets, cfg.init)
        elif cfg.init:
            init_model = finetune.load_init(cfg.init, progress, cancel, source=init_source)
            self.init_nets = finetune.nets_of(init_model)
            p = finetune.fit(p, init_model.architecture, self.init_nets, cfg.init)
        self.preset = p
        self.rank = int(os.environ.get("RANK", 0))
        self.world = int(os.environ.get("WORLD_SIZE", 1))
        self.device = self._setup_device()
        if self.world > 1 and p.gradient_penalty > 0:
            raise UserInputError("WGAN-GP needs double backward, which DistributedDataParallel does not support; "
                                 "train it on one process")
        self.threads = threads.apply(cfg.threads)   # explicit, or the usable cores (cyclegan/threads.py)

        if data_source is None and str(cfg.data).startswith("upload:"):
            raise UserInputError(f"this run was trained on an upload ({cfg.data[7:]}) that the app kept for it; "
                                 "resume it in the app, or start a new run with --data")
        if data_source is None:     # official:NAME -> its folder in the cache, downloaded once
            data_source = zoo.dataset_from_spec(cfg.data, progress, cancel)
        self.data = open_unpaired(data_source or cfg.data, size=p.image_size, preprocess=p.preprocess, flip=p.flip,
                                  value_range=p.value_range, workdir=workdir or self.folder.data_dir,
                                  hub_cache_only=cfg.hub_cache_only)
        report = self.data.report
        if self.rank == 0 and report.note():   # files left out are said now, not found missing later
            self.log(f"data: {report.summary()}")
            for name in report.unreadable[:3]:
                self.log(f"left out {name}: {report.reasons.get(name, 'unreadable')}")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            model = CycleModel(p, domains=self.data.domains, directions=p.directions, with_discriminators=True,
                               provenance={"trained_with": "cyclegan-studio", "data": cfg.data, "arch": cfg.arch,
                                           "recipe": p.recipe, "scale": p.scale, "seed": cfg.seed})
            self.heads = self._heads(model.G_AB)
            for net in (model.G_AB, model.G_BA, model.D_A, model.D_B, self.heads):
                if net is not None:
                    init_net(net, p)
        if init_model is not None:
            done = finetune.copy_weights(model, init_model)
            fresh = [n for n in ("G_AB", "G_BA", "D_A", "D_B") if n not in done and getattr(model, n) is not None]
            self.log(f"initialised {', '.join(done)} from {cfg.init}" + (f"; {', '.join(fresh)} start fresh" if fresh else ""))
            model.provenance["init"] = cfg.init
        self.model = model.to(self.device).train()
        # channels_last only on CUDA: on CPU, NCHW convs measured faster (`python -m bench ablate
        # --variants cl_cpu`) and group norm is exact there.
        self.channels_last = cfg.channels_last and self.device.type == "cuda"
        if self.channels_last:
            self.model.to(memory_format=torch.channels_last)
        self.generators = [g for g in (model.G_AB, model.G_BA) if g is not None]
        self.average = (GeneratorAverage({"G_AB": model.G_AB, "G_BA": model.G_BA}, p.ema_decay)
                        if p.ema_decay > 0 else None)
        self.discriminators = [d for d in (model.D_A, model.D_B) if d is not None]
        self.opt_G = self._optimizer([q for g in self.generators for q in g.parameters()], p.lr_g)
        self.opt_D = self._optimizer([q for d in self.discriminators for q in d.parameters()], p.lr_d)
        # The MLP heads have their own Adam, as in CUT's code (same lr and decay as G's): training
        # state that resumes exactly, never part of the exported model.
        if self.heads is not None:
            self.heads.to(self.device).train()
        self.opt_F = self._optimizer(list(self.heads.parameters()), p.lr_g) if self.heads is not None else None
        self.pools = {"A": ImagePool(p.pool_size), "B": ImagePool(p.pool_size)}
        self.step = 0
        self.last_sample_scores: dict | None = None
        # bf16 autocast on CUDA and on a CPU with bf16 hardware (cpu_bf16_training); --no-amp: float32
        self.amp = cfg.amp and (self.device.type == "cuda" or (self.device.type == "cpu" and cpu_bf16_training()))
        self._build_pairs()

        if resume:
            self._resume()
        elif self.folder.complete_checkpoints() and self.rank == 0:
            raise UserInputError(f"'{self.run_dir}' already holds a run; pass --resume to continue it, or choose another --out")
        self.samples = self._sample_batch()
        self._start_feeds()
        # Live score (KID, random features) on held-out images; rank 0 only, set up at first use.
        self.scorer = LiveScore(cfg.data, self.data, p, cfg.score_n) if self.score_every and self.rank == 0 else None
        self.best = self.folder.best_score(self.step) if self.rank == 0 else None
        self.tb = None
        if self.rank == 0:
            try:
                self.folder.create()
                self.folder.write_config({**self.cfg.to_dict(), **({"init_nets": self.init_nets} if self.init_nets else {})})
            except WRITE_ERRORS as e:
                raise write_error("the run's config.json", e) from None
            if cfg.log == "tensorboard":
                self.tb = TensorBoardLog(self.folder, purge_step=self.step + 1 if resume else None)
                self.folder.on_metrics(self.tb.metrics)

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

    def _heads(self, G: nn.Module | None) -> PatchHeads | None:
        """PatchNCE's MLP heads, built up front from the generator's feature shapes so that their
        optimizer exists from the start (CUT's code makes them at the first forward pass)."""
        p = self.preset
        if p.lambda_nce <= 0:
            return None
        if tuple(p.directions) != ("a2b",) or not hasattr(G, "feature_channels"):
            raise UserInputError("PatchNCE (lambda_nce > 0) trains one direction, A → B, with a generator that "
                                 "exposes its encoder layers (family cut_resnet)")
        return PatchHeads(G.feature_channels(p.nce_layers), p.nce_mlp_width)

    @property
    def score_every(self) -> int:
        """Steps between live scores: the config's, by default the checkpoint interval; 0 = off."""
        c = self.cfg
        return c.checkpoint_every if c.score_every is None else c.score_every

    def _build_pairs(self):
        fuse_g = self.cfg.fuse_passes and all(per_sample(g) for g in self.generators)
        fuse_d = self.cfg.fuse_passes and all(per_sample(d) for d in self.discriminators)
        self.gpair = GeneratorPair(self.model.G_AB, self.model.G_BA, fuse_g, self.preset, self.heads)
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
        a, b = self.data.domain_a, self.data.domain_b
        if self._no_crop_now(self.step):
            a, b = without_crop(a), without_crop(b)
        self.feed_A = batch_stream(a, p.batch_size, c.seed, 1, self.step, self.rank, self.world, c.workers)
        self.feed_B = batch_stream(b, p.batch_size, c.seed, 2, self.step, self.rank, self.world, c.workers)

    def _no_crop_now(self, step: int) -> bool:
        """CUT's dataset code resizes straight to the crop size once the LR decays."""
        return not self.preset.crop_in_decay and self.preset.lr_decay_fraction > 0 and step >= self.decay_start

    @property
    def decay_start(self) -> int:
        return self.cfg.steps - int(round(self.cfg.steps * self.preset.lr_decay_fraction))

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
        start = self.decay_start
        decay = self.cfg.steps - start
        if decay <= 0:
            return 1.0
        return 1.0 if step < start else max(0.0, 1.0 - (step - start + 1) / (decay + 1))

    def _autocast(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16) if self.amp else nullcontext()

    def _to_device(self, x):
        x = x.to(self.device, non_blocking=True)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def _next_batches(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """The (A, B) batches this step trains on: one, or a critic window's (the window slides by
        one batch per step; after a resume it refills from the feed, which starts at the step)."""
        n = self.preset.critic_window or 1
        try:
            while len(self._window) < n:
                self._window.append((self._to_device(next(self.feed_A)), self._to_device(next(self.feed_B))))
        except UserInputError as e:
            # from a DataLoader worker the message carries the worker's traceback: keep its last line
            raise UnreadableData(str(e).strip().splitlines()[-1].split("UserInputError: ")[-1]) from None
        batches = list(self._window)
        self._window.pop(0)
        return batches

    def train_step(self) -> dict:
        p, s = self.preset, self.step
        if self._no_crop_now(s) and not self._no_crop_now(s - 1):
            self._start_feeds()                                       # the decay phase's data, from this step on
        batches = self._next_batches()
        real_A, real_B = batches[0]
        torch.manual_seed(mix(self.cfg.seed, s, self.rank, 11))     # dropout, WGAN-GP: a function of the step
        gen = torch.Generator().manual_seed(mix(self.cfg.seed, s, self.rank, 13))
        gen_g = torch.Generator().manual_seed(mix(self.cfg.seed, s, self.rank, 17))   # flips, NCE patches
        f = self.lr_factor(s)
        for opt, lr in ((self.opt_G, p.lr_g), (self.opt_D, p.lr_d), (self.opt_F, p.lr_g)):
            for group in (opt.param_groups if opt is not None else ()):
                group["lr"] = lr * f
        out: dict = {}
        if p.critic_window:
            self._window_step(batches, gen, out)
        else:
            self._batch_step(real_A, real_B, s, gen, gen_g, out)
        self.lr = p.lr_g * f
        self.step += 1
        if self.average is not None:
            self.average.update()
        return out

    def _batch_step(self, real_A, real_B, s, gen, gen_g, out):
        """The steps of one batch, in the order the preset gives them (batch_ops)."""
        p = self.preset
        fakes = g = None
        ops = batch_ops(p, s)
        for i, op in enumerate(ops):
            if op == "G":
                fakes = self._g_step(real_A, real_B, s, out, gen_g, g)
                g = None
            elif op == "D":
                if fakes is None and p.shared_forward and "G" in ops[i + 1:]:
                    # D judges the fakes of the G step's own forward (CUT's code: one G pass per batch)
                    with self._autocast():
                        g = self.gpair(real_A, real_B, p.lambda_identity > 0, gen_g)
                    fakes = tuple(g[k].detach() if k in g else None for k in ("fake_A", "fake_B"))
                elif fakes is None:
                    with torch.no_grad(), self._autocast():
                        fakes = tuple(G(x) if G is not None else None
                                      for G, x in ((self.model.G_BA, real_B), (self.model.G_AB, real_A)))
                self._d_step(real_A, real_B, fakes, gen, out)

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

    def _g_step(self, real_A, real_B, step, out, gen_g=None, g=None):
        """One generator step; `g` is a forward already made on this batch (shared_forward)."""
        p, m = self.preset, self.model
        _set_requires_grad(self.discriminators, False)
        identity = p.lambda_identity > 0
        with self._autocast():
            if g is None:
                g = self.gpair(real_A, real_B, identity, gen_g)
            adv, fm, names = [], [], []
            for name, D, fake, real in (("B", m.D_B, g.get("fake_B"), real_B), ("A", m.D_A, g.get("fake_A"), real_A)):
                if fake is None:
                    continue
                if p.feature_matching_weight > 0:
                    pred, f_fake = D.forward_features(fake)
                    with torch.no_grad():
                        _, f_real = D.forward_features(real)
                    fm.append(losses.feature_matching(f_real, f_fake))
                else:
                    pred = D(fake)
                adv.append(losses.adversarial(p.gan_loss, pred.float(), True, p.d_outputs_probabilities))
                names.append(name)
        rec = lambda x, y: losses.reconstruction(p.recon_loss, x.float(), y.float())
        for name, a in zip(names, adv):
            out["G_AB" if name == "B" else "G_BA"] = a.detach()
        adv_total = p.gan_weight * _sum(adv)
        if fm:
            for name, f in zip(names, fm):
                out[f"fm_{name}"] = f.detach()
            adv_total = adv_total + p.feature_matching_weight * _sum(fm)
        terms = []
        for name, real in (("A", real_A), ("B", real_B)):
            if f"rec_{name}" in g:
                terms.append(rec(g[f"rec_{name}"], real) * p.lambda_cycle)
                out[f"cycle_{name}"] = terms[-1].detach()
        if identity:
            # CycleGAN's convention scales the identity weight by the cycle weight; a one-direction
            # model (CUT) has no cycle, so there it is the weight itself (0 × it would be a no-op).
            idt_weight = p.lambda_identity * (p.lambda_cycle if len(p.directions) == 2 else 1.0)
            for name, real in (("A", real_A), ("B", real_B)):
                if f"idt_{name}" in g:
                    terms.append(rec(g[f"idt_{name}"], real) * idt_weight)
                    out[f"idt_{name}"] = terms[-1].detach()
        rate = losses.recon_rate(p.recon_rate_schedule, step)
        if not terms:
            total = adv_total
        else:
            rec_total = _sum(terms)
            total = adv_total + rec_total if rate is None else (1 - rate) * adv_total + rate * rec_total
        if "nce" in g:
            nce = g["nce"]
            out["nce"] = nce["nce_x"].detach()
            if nce["nce_y"] is not None:
                out["nce_idt"] = nce["nce_y"].detach()
            total = total + nce["total"]
        out["G_total"] = total.detach()
        self.opt_G.zero_grad(set_to_none=True)
        if self.opt_F is not None:
            self.opt_F.zero_grad(set_to_none=True)
        total.backward()
        self.opt_G.step()
        if self.opt_F is not None:
            self.opt_F.step()
        _set_requires_grad(self.discriminators, True)
        return tuple(g[k].detach() if k in g else None for k in ("fake_A", "fake_B"))

    def _d_step(self, real_A, real_B, fakes, gen, out):
        p = self.preset
        fake_A = self.pools["A"].query(fakes[0], gen) if fakes[0] is not None else None
        fake_B = self.pools["B"].query(fakes[1], gen) if fakes[1] is not None else None
        with self._autocast():
            d = self.dpair(real_A, fake_A, real_B, fake_B)
        for k, v in d.items():
            out[k] = v.detach()
        self.opt_D.zero_grad(set_to_none=True)
        _sum(list(d.values())).backward()
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
        self._t_start, self._score_seconds = t_last, 0.0
        status = "finished"
        t_threads = t_last
        while self.step < c.steps:
            if not c.threads and time.perf_counter() - t_threads > THREADS_RECHECK_S:
                t_threads = time.perf_counter()       # a container's CPU quota or affinity changed: follow it
                self.threads = threads.apply()
            if hooks.should_stop():
                status = "stopped"
                break
            hooks.wait_if_paused()
            if hooks.should_stop():
                status = "stopped"
                break
            try:
                pending.append((self.step + 1, self.train_step()))
            except UnreadableData as e:
                raise UnreadableData(f"{e}; training stopped at step {self.step}: "
                                     f"{self._keep_before_failing(hooks)}") from None
            s = self.step
            # A scored step also writes a checkpoint (every rank knows it: DDP's barrier), so the
            # best-scoring state can be kept.
            due_score = bool(self.score_every) and (s % self.score_every == 0 or s == c.steps)
            due_ckpt = s % c.checkpoint_every == 0 or s == c.steps or due_score
            if s % c.log_every == 0 or due_ckpt or s == 1 or hooks.should_stop():
                now = time.perf_counter()
                record = self._log(pending, (now - t_last) / max(1, s - s_last))
                t_last, s_last = now, s
                pending = []
                hooks.on_log(record)
            if (s == 1 or s % c.sample_every == 0 or s == c.steps) and self.rank == 0:
                hooks.on_sample(self.write_sample())
            score = None
            if due_score and self.scorer is not None:
                t0 = time.perf_counter()
                try:
                    score = self.score()
                except UserInputError as e:                 # e.g. a testA/ without images: train on, unscored
                    self.scorer = None
                    self.log(f"live score off: {e}")
                t_last += time.perf_counter() - t0          # scoring is not training time: keep it off sec_per_step
                if score is not None:
                    hooks.on_score(score)
            if due_ckpt:
                path = self.save_checkpoint(score)
                if score is not None and path is not None:
                    self._keep_if_best(score, path)
                hooks.on_checkpoint(path)
        if pending:
            hooks.on_log(self._log(pending, (time.perf_counter() - t_last) / max(1, self.step - s_last)))
        if status == "stopped":
            self._checkpoint_now(hooks)
        if self.tb is not None:
            self.tb.close()
        return status

    def _log(self, pending, sec_per_step) -> dict:
        """The only GPU→CPU sync: losses of the last few steps, read together."""
        keys = sorted({k for _, d in pending for k in d})
        for step, d in pending:
            vals = torch.stack([d[k].float().cpu() for k in d])
            if not torch.isfinite(vals).all():
                bad = [k for k in d if not math.isfinite(float(d[k]))]
                kept = self.folder.complete_checkpoints()
                after = (f"the last good checkpoint ({kept[0].name}) is kept" if kept
                         else "no checkpoint had been written yet")
                raise Diverged(f"diverged at step {step}: {', '.join(bad)} became NaN/Inf; {after}")
        record = {"step": pending[-1][0]}
        for k in keys:
            vals = [float(d[k]) for _, d in pending if k in d]
            record[k] = sum(vals) / len(vals)
        images = self.preset.batch_size * self.world
        record["lr"] = self.lr
        record.update({"sec_per_step": sec_per_step, "images_per_s": images / sec_per_step if sec_per_step > 0 else 0.0,
                       "time": time.time()})
        if self.rank == 0:
            try:
                self.folder.append_metrics(record)
            except WRITE_ERRORS as e:
                raise write_error(f"the metrics at step {record['step']}", e, self._kept()) from None
        return record

    def _checkpoint_now(self, hooks) -> Path | None:
        """A checkpoint of this step (Stop, a data error) unless the newest one already is."""
        if self.step == 0 or self.folder.complete_checkpoints()[:1] == [self.folder.checkpoint_path(self.step)]:
            return None
        path = self.save_checkpoint()
        hooks.on_checkpoint(path)
        return path

    def _keep_before_failing(self, hooks) -> str:
        """A data error must not cost the steps since the last checkpoint: the nets are whole (the
        batch failed before any update), so they are saved first. Under DDP the other ranks are
        not at a barrier, so there only the last checkpoint is kept."""
        if self.world == 1:
            try:
                path = self._checkpoint_now(hooks)
            except WRITE_ERRORS:
                path = None
            if path is not None:
                return (f"the model so far is saved ({path.name}); remove or replace the file, then resume "
                        "the run or start a new one from it")
        kept = self.folder.complete_checkpoints()[:1]
        return (f"the last checkpoint ({kept[0].name}) is kept; remove or replace the file, then resume the run"
                if kept else "no checkpoint had been written yet; remove or replace the file and start again")

    def _kept(self) -> str:
        return "the previous checkpoint is kept" if self.folder.complete_checkpoints() else "no checkpoint yet"

    def averaged(self):
        """A block in which the model's generators are the ones the run saves: the moving average
        of their weights where the preset keeps one (ema_decay), else their own."""
        return self.average.swapped_in() if self.average is not None else nullcontext()

    # --- the live score ------------------------------------------------------------------------
    def score(self) -> dict:
        """KID (random features) of the current generators on held-out images (train/scoring.py),
        appended to the run's scores; its cost is measured against the training time so far."""
        m = self.model
        t0 = time.perf_counter()
        m.eval()
        try:
            with torch.random.fork_rng(devices=[]), self.averaged():   # the training's draws stay untouched
                record = self.scorer.score(m)
        finally:
            m.train()
        dt = time.perf_counter() - t0
        self._score_seconds += dt
        wall = time.perf_counter() - self._t_start
        record = {"step": self.step, **record, "seconds": round(dt, 3),
                  "fraction_of_wall_time": round(self._score_seconds / wall, 4) if wall > 0 else None,
                  "time": time.time()}
        self.folder.append_score(record)
        return record

    def _keep_if_best(self, score: dict, path: Path) -> None:
        """RUN/best -> the best-scoring checkpoint (lowest KID), kept whatever --keep says."""
        if self.best is None or score["score"] < self.best["score"]:
            self.best = {"step": score["step"], "score": score["score"], "checkpoint": str(path)}
            self.folder.point_best(path, keep=self.cfg.keep_checkpoints)

    # --- samples and checkpoints ---------------------------------------------------------------
    @property
    def sample_columns(self) -> tuple[str, ...]:
        """What each column of a sample grid shows: a one-direction model has no way back, so it
        shows what it does to a target-domain image (CUT trains that to be the identity)."""
        if self.model.G_BA is None:
            return ("real A", "fake B", "real B", "G_AB(real B)")
        return ("real A", "fake B", "rec A", "real B", "fake A", "rec B")

    @torch.no_grad()
    def sample_tensors(self) -> list[torch.Tensor]:
        """The grid's columns (as `sample_columns` names them), each [n, 3, H, W] in [0, 1] on the
        CPU, translated the way the finished model translates by default (its recipe's test mode)."""
        m, (lo, hi) = self.model, self.preset.value_range
        a, b = (((x - lo) / (hi - lo)).clamp(0, 1) for x in self.samples)
        m.eval()
        try:
            with self._autocast(), self.averaged():
                if m.G_BA is None:
                    cols = [a, m.translate_tensor(a, "a2b"), b, m.translate_tensor(b, "a2b")]
                else:
                    fb = m.translate_tensor(a, "a2b"); ra = m.translate_tensor(fb, "b2a", seed=1)
                    fa = m.translate_tensor(b, "b2a"); rb = m.translate_tensor(fa, "a2b", seed=1)
                    cols = [a, fb, ra, b, fa, rb]
        finally:
            m.train()
        return [c.float().cpu() for c in cols]

    def sample_grid(self, cols: list[torch.Tensor] | None = None) -> torch.Tensor:
        """[3, H, W] in [0, 1], one row per sample, columns as `sample_columns` names them."""
        cols = cols or self.sample_tensors()
        tiles = torch.stack(cols, 1).flatten(0, 1)   # sample by sample
        return make_grid(tiles, nrow=len(cols), padding=0)

    def sample_scores(self, cols: list[torch.Tensor] | None = None) -> dict | None:
        """PSNR (dB) of the grid's translations against their ground truth on a demo world (whose
        grid rows show one scene in both looks), beside doing nothing; None for other data."""
        if not isinstance(self.data.domain_a, DemoDomain):
            return None
        cols = cols or self.sample_tensors()
        if self.model.G_BA is None:
            a, fb, b, _ = cols
            return {"a2b": float(psnr(fb, b).mean()), "identity": float(psnr(a, b).mean())}
        a, fb, _, b, fa, _ = cols
        return {"a2b": float(psnr(fb, b).mean()), "b2a": float(psnr(fa, a).mean()),
                "identity": float(psnr(a, b).mean())}

    def write_sample(self) -> Path:
        """The grid as the run's sample for this step (written whole, then renamed into place);
        on a demo world its scores go to `last_sample_scores`."""
        path = self.folder.sample_path(self.step)
        tmp = path.with_suffix(".tmp.png")
        cols = self.sample_tensors()
        grid = self.sample_grid(cols)
        try:
            save_image(grid, tmp)
            os.replace(tmp, path)
        except WRITE_ERRORS as e:
            tmp.unlink(missing_ok=True)
            raise write_error(f"the sample grid at step {self.step}", e, self._kept()) from None
        self.last_sample_scores = self.sample_scores(cols)
        if self.tb is not None:
            self.tb.sample(self.step, grid)
        return path

    def training_state(self) -> tuple[dict, dict]:
        tensors: dict = {}
        meta = {"step": self.step, "config": self.cfg.to_dict(),
                "opt_G": flatten_optimizer("opt_G", self.opt_G.state_dict(), tensors),
                "opt_D": flatten_optimizer("opt_D", self.opt_D.state_dict(), tensors),
                "pools": {}}
        if self.heads is not None:      # PatchNCE's heads and their optimizer: training state only
            meta["opt_F"] = flatten_optimizer("opt_F", self.opt_F.state_dict(), tensors)
            for k, v in self.heads.state_dict().items():
                tensors[f"heads.{k}"] = v.detach().cpu().contiguous()
        for name, pool in self.pools.items():
            meta["pools"][name] = len(pool.images)
            if pool.images:
                tensors[f"pool.{name}"] = torch.stack(pool.images).float().cpu().contiguous()
        if self.average is not None:    # the model file holds the average; the optimizer steps these
            tensors.update(self.average.raw_tensors())
            meta["average_updates"] = self.average.updates
        # Every draw is seeded from (seed, step), so these are for inspection, not needed to resume.
        tensors["rng.torch"] = torch.get_rng_state()
        meta["rng_numpy"] = np.random.get_state()[1][:4].tolist()
        return meta, tensors

    def save_checkpoint(self, score: dict | None = None) -> Path | None:
        """Rank 0 writes; a model folder that `cyclegan.load_model` opens, plus the training state.
        A live score of this step goes into the model's provenance."""
        if self.world > 1:
            dist.barrier()
        path = None
        if self.rank == 0:
            meta, tensors = self.training_state()
            prov = {k: v for k, v in self.model.provenance.items() if k != "score"}
            prov.update(step=self.step, steps=self.cfg.steps)
            if score is not None:
                prov["score"] = {k: score[k] for k in score if k.startswith(("metric", "kid", "identity_kid", "n_"))}
            self.model.provenance = prov

            def write(tmp: Path):
                with self.averaged():
                    save_model(self.model, tmp, include_discriminators=True)
                write_state(*RunDir.state_paths(tmp), meta, tensors)

            try:
                path = self.folder.write_checkpoint(self.step, write, keep=self.cfg.keep_checkpoints)
            except WRITE_ERRORS as e:
                raise write_error(f"the checkpoint at step {self.step}", e, self._kept()) from None
        if self.world > 1:
            dist.barrier()
        return path

    def _resume(self):
        for path in self.folder.complete_checkpoints():
            try:
                self.load_checkpoint(path)
                if self.rank == 0:     # rows after the checkpoint are retrained: drop them
                    self.folder.truncate_metrics(self.step)
                self.log(f"resumed from {path.name} (step {self.step})")
                return
            except Exception as e:  # any damage: fall back to the previous checkpoint
                self.log(f"skipping unreadable checkpoint {path.name}: {e}")
        self.log("no checkpoint to resume from; starting from step 0")

    def load_checkpoint(self, path: Path):
        meta, tensors = read_state(*RunDir.state_paths(path))
        weights = load_file(str(path / WEIGHTS))
        load_state(self.model, weights, f"'{path.name}'")
        self.model.to(self.device).train()
        if self.average is not None:
            self.average.restore(tensors, meta["average_updates"])
        load_optimizer(self.opt_G, meta["opt_G"], tensors)
        load_optimizer(self.opt_D, meta["opt_D"], tensors)
        if self.heads is not None:
            self.heads.load_state_dict({k[len("heads."):]: v for k, v in tensors.items() if k.startswith("heads.")})
            self.heads.to(self.device).train()
            load_optimizer(self.opt_F, meta["opt_F"], tensors)
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

    def on_score(self, record: dict) -> None:
        pass
