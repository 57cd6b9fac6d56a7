"""Batches whose content is a pure function of (seed, domain, step): which image, which crop,
which flip. Resuming at step N therefore replays exactly what a run that never stopped would
have seen, with or without worker processes, and each DDP rank sees its own share."""
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

MASK = (1 << 64) - 1


def mix(*values: int) -> int:
    """splitmix64 over a few ints: stable across processes (unlike hash() on strings)."""
    h = 0x9E3779B97F4A7C15
    for v in values:
        h = (h ^ (int(v) & MASK)) & MASK
        h = (h + 0x9E3779B97F4A7C15) & MASK
        h = ((h ^ (h >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        h = ((h ^ (h >> 27)) * 0x94D049BB133111EB) & MASK
        h ^= h >> 31
    return h & ((1 << 63) - 1)


class SeededItems(Dataset):
    """Fetches item `idx` with the global torch RNG seeded for that draw (random crop / flip)."""

    def __init__(self, base: Dataset):
        self.base = base

    def __len__(self):
        return len(self.base)

    def __getitem__(self, key):
        idx, seed = key
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return self.base[idx]


class PositionSampler(Sampler):
    """Infinite stream of (index, augmentation seed) from `start_step` on; a fresh permutation
    per epoch, all derived from the seed."""

    def __init__(self, n: int, batch: int, seed: int, tag: int, start_step: int = 0, rank: int = 0, world: int = 1):
        self.n, self.batch, self.seed, self.tag = n, batch, seed, tag
        self.start_step, self.rank, self.world = start_step, rank, world
        self._perms: dict[int, torch.Tensor] = {}

    def _perm(self, epoch: int) -> torch.Tensor:
        if epoch not in self._perms:
            g = torch.Generator().manual_seed(mix(self.seed, self.tag, epoch))
            self._perms = {epoch: torch.randperm(self.n, generator=g)}
        return self._perms[epoch]

    def __iter__(self):
        step = self.start_step
        while True:
            for j in range(self.batch):
                p = (step * self.world + self.rank) * self.batch + j
                yield int(self._perm(p // self.n)[p % self.n]), mix(self.seed, self.tag, p, 7)
            step += 1


def batch_stream(dataset: Dataset, batch: int, seed: int, tag: int, start_step: int = 0,
                 rank: int = 0, world: int = 1, workers: int = 0):
    sampler = PositionSampler(len(dataset), batch, seed, tag, start_step, rank, world)
    loader = DataLoader(SeededItems(dataset), batch_size=batch, sampler=sampler, num_workers=workers,
                        persistent_workers=workers > 0, prefetch_factor=4 if workers else None)
    return iter(loader)
