"""Does the unpaired score mean something here? On a demo world, where ground truth exists, rank
the shipped demo models and the identity (no translation) by KID (random features) and by
ground-truth PSNR (`cyclegan.evaluate`), per direction, and say whether the rankings agree
(one-direction models, CUT, are ranked in their direction only). Then time `score_model` at a
few n (the cost of scoring during training). `--run RUN` does the same for every checkpoint
kept in a run folder: score vs step vs PSNR. Each pair of models is also judged: does PSNR
separate them (a 95% bootstrap interval over the same test pairs), does KID (2 × the stds), and
where both do, do they agree?

    python -m bench.score_check --n 200 --size 64 --threads 1
    python -m bench.score_check --run runs/demo-cut --n 200 --size 64 --threads 1
    python -m bench.score_check --live-cost 50 100 200 --models demo:cut demo:cyclegan --threads 1
"""
from __future__ import annotations

import argparse
import itertools
import json
import time

import torch

def shipped() -> list[str]:
    import cyclegan
    return [f"demo:{name}" for name, _ in cyclegan.builtin_models()]


def kendall_tau(xs, ys) -> float:
    """Rank agreement of two score lists (+1 same order, -1 reversed); ties count as neither."""
    pairs = list(itertools.combinations(range(len(xs)), 2))
    s = sum((1 if (xs[i] - xs[j]) * (ys[i] - ys[j]) > 0 else -1 if (xs[i] - xs[j]) * (ys[i] - ys[j]) < 0 else 0)
            for i, j in pairs)
    return s / len(pairs)


def psnr_interval(x, y, boots=2000, seed=0) -> tuple[float, float, float]:
    """Mean PSNR difference of two models over the same pairs, with a 95% bootstrap interval
    (pairs resampled together): whether PSNR itself can tell the two apart."""
    diff = torch.tensor(x, dtype=torch.float64) - torch.tensor(y, dtype=torch.float64)
    g = torch.Generator().manual_seed(seed)
    means = diff[torch.randint(len(diff), (boots, len(diff)), generator=g)].mean(1)
    lo, hi = torch.quantile(means, torch.tensor([0.025, 0.975], dtype=torch.float64)).tolist()
    return float(diff.mean()), lo, hi


def pair_verdicts(rows: list[dict], per_image: dict[str, list[float]]) -> list[dict]:
    """Each pair of models with per-image PSNRs (not doing nothing): does PSNR separate them (its 95%
    interval excludes 0), does KID (their KIDs more than 2 × the root sum of squares of their subset
    stds apart, an approximate test), and where both do, do they order the two the same way?"""
    out = []
    for r, s in itertools.combinations([r for r in rows if r["model"] in per_image], 2):
        mean, lo, hi = psnr_interval(per_image[r["model"]], per_image[s["model"]])
        psnr_sep = lo > 0 or hi < 0
        kid_sep = abs(r["kid"] - s["kid"]) > 2 * (r["kid_std"] ** 2 + s["kid_std"] ** 2) ** 0.5
        v = {"a": r["model"], "b": s["model"], "psnr_diff": mean, "psnr_ci95": [lo, hi], "psnr_separates": psnr_sep,
             "kid_diff": r["kid"] - s["kid"], "kid_separates": kid_sep}
        if psnr_sep and kid_sep:
            v["agree"] = (mean > 0) == (r["kid"] < s["kid"])
        out.append(v)
    return out


def check(models=None, data="demo:daynight", n=200, size=64, feature_seeds=()) -> dict:
    """The table for the shipped feature network; `feature_seeds` adds the KID ranking under
    other random networks, to see whether the order depends on the draw."""
    import cyclegan
    from cyclegan.evaluate import evaluate
    from cyclegan.features import RandomFeatures
    from cyclegan.score import score_model
    models = list(models or shipped())
    rows = {"a2b": [], "b2a": []}
    per_image = {"a2b": {}, "b2a": {}}        # each model's PSNR per test pair, for pair_verdicts
    identity = {}
    other = {seed: {"a2b": [], "b2a": []} for seed in feature_seeds}
    nets = {seed: RandomFeatures(seed) for seed in feature_seeds}
    for spec in models:
        model = cyclegan.load_model(spec)
        gt = evaluate(model, data, n=n, size=size, per_image=True)
        for d in model.directions:
            s = score_model(model, data, d, n=n, size=size)
            rows[d].append({"model": spec, "kid": s["kid"], "kid_std": s["kid_std"], "fid": s["fid"],
                            "psnr": gt[d]["psnr"], "ssim": gt[d]["ssim"]})
            per_image[d][spec] = gt[d]["psnr_per_image"]
            identity.setdefault(d, []).append((s["identity"], gt["identity"][d]))
            for seed, net in nets.items():
                o = score_model(model, data, d, n=n, size=size, features=net)
                other[seed][d].append((spec, o["kid"], o["identity"]["kid"]))
    out = {"data": data, "n": n, "size": size, "features": s["features"], "subset_size": s["subset_size"],
           "subsets": s["subsets"], "directions": {}}
    for d, rs in rows.items():
        if not rs:
            continue
        kid_ids = {round(i[0]["kid"], 12) for i in identity[d]}
        assert len(kid_ids) == 1, f"identity KID differs between models: {kid_ids}"  # same images, same score
        base, gt_base = identity[d][0]
        rs.append({"model": "identity", "kid": base["kid"], "kid_std": base["kid_std"], "fid": base["fid"],
                   "psnr": gt_base["psnr"], "ssim": gt_base["ssim"]})
        by_kid = [r["model"] for r in sorted(rs, key=lambda r: r["kid"])]
        by_psnr = [r["model"] for r in sorted(rs, key=lambda r: -r["psnr"])]
        by_fid = [r["model"] for r in sorted(rs, key=lambda r: r["fid"])]
        out["directions"][d] = {
            "rows": rs, "rank_by_kid": by_kid, "rank_by_psnr": by_psnr, "rank_by_fid": by_fid,
            "kid_agrees_with_psnr": by_kid == by_psnr, "fid_agrees_with_psnr": by_fid == by_psnr,
            "kendall_tau_kid_psnr": kendall_tau([-r["kid"] for r in rs], [r["psnr"] for r in rs]),
            "pairs": pair_verdicts(rs, per_image[d]),
        }
        for seed in feature_seeds:
            kids = {m: k for m, k, _ in other[seed][d]} | {"identity": other[seed][d][0][2]}
            order = sorted(kids, key=kids.get)
            out["directions"][d].setdefault("other_feature_seeds", {})[str(seed)] = {
                "kid": kids, "rank_by_kid": order, "agrees_with_psnr": order == by_psnr}
    return out


def over_time(run_dir, data="demo:daynight", n=200, size=64) -> dict:
    """Every complete checkpoint of a run: KID (random features) and ground-truth PSNR at the same
    n, per direction, beside the run's own live score (its n) where it scored that step."""
    import cyclegan
    from cyclegan.evaluate import evaluate
    from cyclegan.score import score_model
    from train.runs import RunDir
    run = RunDir(run_dir)
    live = {r["step"]: r for r in run.read_scores()}
    rows = []
    for ckpt in sorted(run.complete_checkpoints(), key=lambda p: p.name):
        model = cyclegan.load_model(ckpt)
        step = model.provenance.get("step")
        gt = evaluate(model, data, n=n, size=size)
        for d in model.directions:
            s = score_model(model, data, d, n=n, size=size)
            rows.append({"step": step, "direction": d, "kid": s["kid"], "kid_std": s["kid_std"], "psnr": gt[d]["psnr"],
                         "identity_kid": s["identity"]["kid"], "identity_psnr": gt["identity"][d]["psnr"],
                         "live_kid": live.get(step, {}).get(f"kid_{d}"), "live_n": live.get(step, {}).get("n_fake")})
    out = {"run": str(run.path), "n": n, "size": size, "rows": rows,
           "best": run.best_score(), "latest": str(run.newest_checkpoint())}
    for d in ("a2b", "b2a"):
        rs = [r for r in rows if r["direction"] == d]
        if len(rs) > 1:
            out[f"kendall_tau_kid_psnr_{d}"] = kendall_tau([-r["kid"] for r in rs], [r["psnr"] for r in rs])
            out[f"best_by_kid_{d}"] = min(rs, key=lambda r: r["kid"])["step"]
            out[f"best_by_psnr_{d}"] = max(rs, key=lambda r: r["psnr"])["step"]
    return out


def over_time_table(res: dict) -> str:
    lines = ["| step | direction | KID (random features) ± std | live KID (n) | PSNR dB (ground truth) |",
             "|---|---|---|---|---|"]
    for r in res["rows"]:
        live = f"{r['live_kid']:.4f} ({r['live_n']})" if r["live_kid"] is not None else "–"
        lines.append(f"| {r['step']} | {r['direction']} | {r['kid']:.4f} ± {r['kid_std']:.4f} | {live} | {r['psnr']:.2f} |")
    for d in ("a2b", "b2a"):
        if f"kendall_tau_kid_psnr_{d}" in res:
            lines.append(f"\n{d}: Kendall tau (KID vs PSNR over steps) {res[f'kendall_tau_kid_psnr_{d}']:+.2f}; "
                         f"best step by KID {res[f'best_by_kid_{d}']}, by PSNR {res[f'best_by_psnr_{d}']}")
    return "\n".join(lines)


def timing(spec="demo:cyclegan", data="demo:daynight", ns=(50, 200), size=64, repeats=3) -> dict:
    """Best of `repeats` wall-clock seconds of score_model, with its own breakdown."""
    import cyclegan
    from cyclegan.score import score_model
    model = cyclegan.load_model(spec)
    score_model(model, data, n=4, size=size)  # imports, feature net weights, first-call overheads
    out = {}
    for n in ns:
        best = None
        for _ in range(repeats):
            t0 = time.perf_counter()
            s = score_model(model, data, n=n, size=size)
            wall = time.perf_counter() - t0
            if best is None or wall < best["wall"]:
                best = {"wall": round(wall, 3), **s["seconds"]}
        out[str(n)] = best
    return out


def live_cost(models, ns=(50, 100, 200), data="demo:daynight", repeats=3) -> dict:
    """What the live score of a training run (train/scoring.py) costs: its one-off set-up, then one
    score, in wall and process CPU seconds (CPU time is what neighbours on a shared machine disturb
    least; on one thread it is about the idle wall time). Best of `repeats` by CPU time."""
    import os

    import cyclegan
    from cyclegan.score import kid_fid
    from train.scoring import LiveScore
    kid_fid(torch.rand(4, 8), torch.rand(4, 8))          # torchmetrics' import, once per process
    out = {"load_avg_1m": round(os.getloadavg()[0], 2)}
    for spec in models:
        model = cyclegan.load_model(spec)
        for n in ns:
            live = LiveScore(data, None, model.preset, n)
            t0, c0 = time.perf_counter(), time.process_time()
            live.score(model)
            first = (time.perf_counter() - t0, time.process_time() - c0)
            best = None
            for _ in range(repeats):
                t0, c0 = time.perf_counter(), time.process_time()
                live.score(model)
                t = (time.perf_counter() - t0, time.process_time() - c0)
                best = t if best is None or t[1] < best[1] else best
            out[f"{spec} n={n}"] = {"setup_cpu_s": round(first[1] - best[1], 3), "score_wall_s": round(best[0], 3),
                                    "score_cpu_s": round(best[1], 3)}
    return out


def table(res: dict) -> str:
    lines = ["| direction | model | KID (random features) ± std | FID (random features) | PSNR dB (ground truth) | SSIM |",
             "|---|---|---|---|---|---|"]
    for d, v in res["directions"].items():
        for r in v["rows"]:
            lines.append(f"| {d} | {r['model']} | {r['kid']:.5f} ± {r['kid_std']:.5f} | {r['fid']:.2f} | "
                         f"{r['psnr']:.2f} | {r['ssim']:.3f} |")
    for d, v in res["directions"].items():
        lines.append(f"\n{d}: by KID {' < '.join(v['rank_by_kid'])}; by PSNR {' > '.join(v['rank_by_psnr'])}; "
                     f"agree: {v['kid_agrees_with_psnr']} (Kendall tau {v['kendall_tau_kid_psnr']:+.2f}); "
                     f"FID order agrees: {v['fid_agrees_with_psnr']}")
        for p in v.get("pairs", []):
            verdict = (f"both separate them and {'agree' if p['agree'] else 'DISAGREE'}" if "agree" in p else
                       "only PSNR separates them" if p["psnr_separates"] else
                       "only KID separates them" if p["kid_separates"] else "neither separates them")
            lines.append(f"  {p['a']} vs {p['b']}: PSNR {p['psnr_diff']:+.2f} dB [{p['psnr_ci95'][0]:+.2f}, "
                         f"{p['psnr_ci95'][1]:+.2f}], KID {p['kid_diff']:+.5f}: {verdict}")
        for seed, o in v.get("other_feature_seeds", {}).items():
            lines.append(f"  feature seed {seed}: by KID {' < '.join(o['rank_by_kid'])}; agrees: {o['agrees_with_psnr']}")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.score_check", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="demo:daynight")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--models", nargs="+", default=None, help="default: every shipped demo model")
    ap.add_argument("--run", default=None, metavar="RUN", help="instead: every checkpoint of this run folder")
    ap.add_argument("--live-cost", nargs="+", type=int, default=None, metavar="N",
                    help="instead: time the training run's live score at these n")
    ap.add_argument("--feature-seeds", nargs="*", type=int, default=[], metavar="SEED",
                    help="also rank with random networks of these seeds (robustness of the order)")
    ap.add_argument("--timing", nargs="*", type=int, default=[50, 200], metavar="N",
                    help="time score_model at these n (none: skip)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.live_cost:
        print(json.dumps(live_cost(args.models or shipped(), args.live_cost, args.data), indent=2))
        return 0
    if args.run:
        res = over_time(args.run, args.data, args.n, args.size)
        print(json.dumps(res, indent=2))
        print()
        print(over_time_table(res))
        return 0
    args.models = args.models or shipped()
    res = check(args.models, args.data, args.n, args.size, args.feature_seeds)
    res["threads"] = args.threads
    if args.timing:
        res["timing_seconds"] = timing(args.models[0], args.data, args.timing, args.size)
    print(json.dumps(res, indent=2))
    print()
    print(table(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
