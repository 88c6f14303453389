"""Orchard row camera: per-pixel depth from a single grey frame.

Synthetic 16x16 frames of an orchard alley (ground plane, sky, trunks/boxes
standing on the ground), a small fully connected encoder-decoder over the
whole frame, trained with
the Eigen scale-invariant log loss.  Two sessions: the first writes a
checkpoint, the second starts from fresh objects, reloads it and goes on.
Reports are INI sections printed at the end of each session.
"""
import configparser
import io
import os
import shutil
import sys
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

H = W = 16
FAR = 40.0
NEAR = 1.0


def render(n, rng):
    imgs = np.zeros((n, H, W, 1), np.float32)
    depth = np.zeros((n, H, W), np.float32)
    rows = np.arange(H)[:, None].astype(np.float32)
    cols = np.arange(W)[None, :].astype(np.float32)
    for i in range(n):
        hr = rng.uniform(3.0, 5.5)
        k = rng.uniform(5.0, 8.0)
        d = np.where(rows > hr, k / np.maximum(rows - hr, 0.5), FAR) * np.ones((1, W))
        d = np.clip(d, NEAR, FAR)
        alb = np.where(rows > hr, 0.55, 0.9) * np.ones((1, W))
        objs = sorted(rng.uniform(2.0, 16.0, size=rng.integers(1, 4)), reverse=True)
        for do in objs:
            base = hr + k / do
            tall = rng.uniform(1.2, 2.5) * k / do
            half = rng.uniform(0.3, 0.8) * k / do
            c0 = rng.uniform(0, W)
            m = (rows <= base) & (rows >= base - tall) & (np.abs(cols - c0) <= half)
            d = np.where(m, do, d)
            alb = np.where(m, rng.uniform(0.3, 0.7), alb)
        shade = alb * np.exp(-d / 25.0)
        tex = 0.12 * np.sin(2 * np.pi * cols * np.minimum(d, 12.0) / 10.0)
        img = shade + np.where(d < FAR, tex, 0.0) + rng.normal(0, 0.02, (H, W))
        imgs[i, :, :, 0] = img
        depth[i] = d
    return imgs, depth


class RowDepthNet(nn.Module):
    def __init__(self, hid=192):
        super().__init__()
        self.enc = nn.Linear(H * W, hid)
        self.mid1 = nn.Linear(hid, hid)
        self.mid2 = nn.Linear(hid, hid)
        self.dec = nn.Linear(hid, H * W)

    def __call__(self, x):
        z = nn.gelu(self.enc(x.reshape(x.shape[0], -1)))
        z = z + self.mid2(nn.gelu(self.mid1(z)))
        return self.dec(nn.gelu(z)).reshape(-1, H, W) + 2.0


def silog(pred_log, true_log, lam=0.85):
    g = pred_log - true_log
    return mx.mean(mx.mean(g * g, axis=(1, 2)) - lam * mx.mean(g, axis=(1, 2)) ** 2)


def depth_metrics(pred_log, true_log):
    p = np.exp(np.array(pred_log))
    t = np.exp(np.array(true_log))
    abs_rel = float(np.mean(np.abs(p - t) / t))
    rmse = float(np.sqrt(np.mean((p - t) ** 2)))
    ratio = np.maximum(p / t, t / p)
    delta1 = float(np.mean(ratio < 1.25) * 100.0)
    return abs_rel, rmse, delta1


def main():
    t_start = time.time()
    rng = np.random.default_rng(339)
    mx.random.seed(339)
    xtr, dtr = render(2000, rng)
    xva, dva = render(400, rng)
    mu, sd = xtr.mean(), xtr.std()
    xtr = mx.array((xtr - mu) / sd)
    xva = mx.array((xva - mu) / sd)
    ltr = mx.array(np.log(dtr))
    lva = mx.array(np.log(dva))

    mean_map = mx.mean(ltr, axis=0, keepdims=True)
    base = depth_metrics(mx.broadcast_to(mean_map, lva.shape), lva)
    base_silog = silog(mx.broadcast_to(mean_map, lva.shape), lva).item()

    batch = 50
    steps_per_epoch = xtr.shape[0] // batch
    epochs_a, epochs_b = 5, 5
    total = steps_per_epoch * (epochs_a + epochs_b)
    warm = 60
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-3, warm),
         optim.cosine_decay(2e-3, total - warm, 2e-5)], [warm])

    def fresh():
        m = RowDepthNet()
        o = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
        return m, o

    def loss_fn(model, x, y):
        return silog(model(x), y)

    def evaluate(model):
        preds = []
        for s in range(0, xva.shape[0], 100):
            preds.append(model(xva[s:s + 100]))
        p = mx.concatenate(preds, axis=0)
        return (silog(p, lva).item(),) + depth_metrics(p, lva)

    def run_epochs(model, opt, first_ep, last_ep, cfg, nprng, audit):
        vg = nn.value_and_grad(model, loss_fn)
        for ep in range(first_ep, last_ep + 1):
            perm = mx.array(nprng.permutation(xtr.shape[0]))
            tot = 0.0
            for b in range(steps_per_epoch):
                idx = perm[b * batch:(b + 1) * batch]
                lr_now = sched(opt.step).item()
                loss, grads = vg(model, xtr[idx], ltr[idx])
                if audit and b == 0:
                    leaves = tree_flatten(grads)
                    zero = [k for k, g in leaves if float(mx.abs(g).max()) == 0.0]
                    print(f"# gradient audit: {len(leaves)} leaves, "
                          f"all-zero: {zero if zero else 'none'}, first lr {lr_now:.1e}")
                    audit = False
                opt.update(model, grads)
                mx.eval(model.parameters(), opt.state, loss)
                tot += loss.item()
            v = evaluate(model)
            sec = f"epoch {ep:02d}"
            cfg[sec] = {
                "step": str(int(opt.step.item())),
                "lr_last": f"{lr_now:.3e}",
                "train_silog": f"{tot / steps_per_epoch:.4f}",
                "valid_silog": f"{v[0]:.4f}",
                "valid_abs_rel": f"{v[1]:.4f}",
                "valid_rmse_m": f"{v[2]:.3f}",
                "valid_delta1_pct": f"{v[3]:.1f}",
            }

    def dump(cfg):
        buf = io.StringIO()
        cfg.write(buf)
        sys.stdout.write(buf.getvalue())
        sys.stdout.flush()

    nprng = np.random.default_rng(7)

    # session one
    model, opt = fresh()
    mx.eval(model.parameters())
    cfg = configparser.ConfigParser()
    v0 = evaluate(model)
    cfg["setup"] = {
        "frames": f"{xtr.shape[0]} train / {xva.shape[0]} valid, {H}x{W}",
        "depth_range_m": f"{NEAR:.0f}..{FAR:.0f}",
        "mean_map_silog": f"{base_silog:.4f}",
        "mean_map_abs_rel": f"{base[0]:.4f}",
        "mean_map_rmse_m": f"{base[1]:.3f}",
        "mean_map_delta1_pct": f"{base[2]:.1f}",
        "untrained_silog": f"{v0[0]:.4f}",
        "untrained_delta1_pct": f"{v0[3]:.1f}",
        "warmup": f"linear from 0.0 over {warm} steps, then cosine",
    }
    run_epochs(model, opt, 1, epochs_a, cfg, nprng, audit=True)
    ckdir = tempfile.mkdtemp(prefix="rowcam_")
    wpath = os.path.join(ckdir, "net.safetensors")
    opath = os.path.join(ckdir, "opt.safetensors")
    model.save_weights(wpath)
    mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
    ref = model(xva[:8])
    mx.eval(ref)
    cfg["checkpoint"] = {"dir": ckdir, "step": str(int(opt.step.item()))}
    dump(cfg)

    # session two: new objects, reload, continue
    del model, opt
    model, opt = fresh()
    model.load_weights(wpath)
    opt.state = tree_unflatten(list(mx.load(opath).items()))
    mx.eval(model.parameters(), opt.state)
    again = model(xva[:8])
    cfg = configparser.ConfigParser()
    cfg["resume"] = {
        "step": str(int(opt.step.item())),
        "max_abs_pred_change": f"{float(mx.abs(again - ref).max()):.2e}",
        "lr_now": f"{sched(opt.step).item():.3e}",
    }
    run_epochs(model, opt, epochs_a + 1, epochs_a + epochs_b, cfg, nprng, audit=False)
    v = evaluate(model)
    cfg["done"] = {
        "valid_silog": f"{v[0]:.4f}",
        "valid_abs_rel": f"{v[1]:.4f} (mean map {base[0]:.4f})",
        "valid_rmse_m": f"{v[2]:.3f} (mean map {base[1]:.3f})",
        "valid_delta1_pct": f"{v[3]:.1f} (mean map {base[2]:.1f})",
        "wall_s": f"{time.time() - t_start:.1f}",
    }
    dump(cfg)
    shutil.rmtree(ckdir, ignore_errors=True)


if __name__ == "__main__":
    main()
