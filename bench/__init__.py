"""Benchmarks that print numbers: one JSON object per command.

    python -m bench train --arch cyclegan --size 128 --batch 1 --steps 5 --scale full
    python -m bench translate --model random:cyclegan --size 256 --n 5
    python -m bench compare --size 128 --steps 5 --scale full
    python -m bench profile --size 128 --scale full             # where a step's time goes
    python -m bench ablate --size 128 --variants nchw,adam_fused  # A/B an optimisation first

Every figure is measured in the same process: seconds per step over N steps after warm-up, the
FLOPs of one step (torch.utils.flop_counter), and a "conv peak": the convolutions the model itself
runs, timed one by one in isolation (same dtype, same threads), which says how close to the best
this machine can do for that mix the real step gets. `compare` runs a plain eager implementation
of the published CycleGAN step (bench/reference.py) next to our Trainer as the yardstick.

On a shared CPU, wall times swing with the neighbours: every command also reports the process
CPU time (`cpu_median_s`), and `compare` / `translate` / `ablate` interleave the two sides.
With --threads 1 CPU time is exact; with more threads OpenMP's spin-waiting inflates it, and
OMP_WAIT_POLICY=PASSIVE (set before Python starts) makes multi-thread runs far less noisy.
"""
