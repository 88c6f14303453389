"""Byte-level model of synthetic marine weather bulletins, trained in two
sessions: the first session is 'pre-empted' after it writes a checkpoint
(weights + optimizer state + data-cursor state) into a temp dir, the second
session builds everything from scratch, loads that checkpoint and carries on.

Muon for the hidden 2-D weights, AdamW (cosine schedule) for the rest, via
optim.MultiOptimizer.  Loss is reported in bits per byte.
"""
import json
import math
import os
import tempfile
import time
from dataclasses import dataclass

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

AREAS = ["Viking", "North Utsire", "Forties", "Cromarty", "Dogger", "Fisher",
         "German Bight", "Humber", "Thames", "Dover", "Wight", "Portland",
         "Plymouth", "Biscay", "Fastnet", "Lundy", "Irish Sea", "Shannon",
         "Rockall", "Malin", "Hebrides", "Fair Isle", "Faeroes"]
DIRS = ["north", "northeast", "east", "southeast", "south", "southwest",
        "west", "northwest", "variable"]
WEATHER = ["Rain", "Showers", "Fair", "Drizzle", "Fog patches", "Squally showers",
           "Rain later", "Thundery showers"]
VIS = ["good", "moderate", "poor", "very poor", "good, occasionally poor",
       "moderate or good"]


@dataclass
class Cfg:
    ctx: int = 12
    emb: int = 24
    hidden: int = 128
    batch: int = 64
    steps_total: int = 600
    preempt_at: int = 300
    report_every: int = 100
    adamw_lr: float = 3e-3
    muon_lr: float = 0.02
    seed: int = 7


@dataclass
class Report:
    session: int
    step: int
    lr_adamw: float
    train_bpb: float
    val_bpb: float
    secs: float


def make_bulletin(rng):
    n = rng.integers(1, 4)
    areas = ", ".join(sorted(rng.choice(AREAS, size=n, replace=False).tolist()))
    d1 = DIRS[rng.integers(len(DIRS))]
    f1 = int(rng.integers(2, 8))
    s = f"{areas}. {d1.capitalize()} {f1}"
    if rng.random() < 0.6:
        f2 = min(12, f1 + int(rng.integers(1, 3)))
        s += f" to {f2}"
        if f2 >= 8:
            s += f", occasionally gale {f2 + 1 if f2 < 12 else 12}"
    if rng.random() < 0.4:
        d2 = DIRS[(DIRS.index(d1) + 1) % 8] if d1 != "variable" else "north"
        s += f", veering {d2} later"
    s += f". {WEATHER[rng.integers(len(WEATHER))]}. "
    s += f"{VIS[rng.integers(len(VIS))].capitalize()}.\n"
    return s


def build_corpus(rng, n_bulletins):
    text = "".join(make_bulletin(rng) for _ in range(n_bulletins))
    return np.frombuffer(text.encode("ascii"), dtype=np.uint8).astype(np.int32)


class ByteMLP(nn.Module):
    def __init__(self, cfg: Cfg):
        super().__init__()
        self.ctx = cfg.ctx
        self.embed = nn.Embedding(256, cfg.emb)
        self.hidden = [nn.Linear(cfg.ctx * cfg.emb, cfg.hidden),
                       nn.Linear(cfg.hidden, cfg.hidden)]
        self.head = nn.Linear(cfg.hidden, 256)

    def __call__(self, ctx_bytes):
        h = self.embed(ctx_bytes).reshape(ctx_bytes.shape[0], -1)
        for layer in self.hidden:
            h = nn.gelu(layer(h))
        return self.head(h)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def windows(data, starts, ctx):
    idx = starts[:, None] + np.arange(ctx + 1)[None, :]
    w = data[idx]
    return mx.array(w[:, :ctx]), mx.array(w[:, ctx])


def make_optimizer(cfg: Cfg):
    sched = optim.cosine_decay(cfg.adamw_lr, cfg.steps_total, 1e-4)
    muon = optim.Muon(learning_rate=cfg.muon_lr, momentum=0.95, weight_decay=0.0)
    adamw = optim.AdamW(learning_rate=sched, weight_decay=0.01)
    is_hidden_matrix = lambda path, p: path.startswith("hidden.") and p.ndim == 2
    return optim.MultiOptimizer([muon, adamw], [is_hidden_matrix])


def val_bpb(model, data, cfg):
    starts = np.arange(0, len(data) - cfg.ctx - 1, 4)
    total, count = 0.0, 0
    for i in range(0, len(starts), 2048):
        x, y = windows(data, starts[i:i + 2048], cfg.ctx)
        l = nn.losses.cross_entropy(model(x), y, reduction="sum")
        total += l.item()
        count += len(y)
    return total / count / math.log(2)


def run_session(session, cfg, train, val, ckpt_dir, t0, log):
    mx.random.seed(cfg.seed + 100 * session)  # a different init: overwritten on resume
    model = ByteMLP(cfg)
    opt = make_optimizer(cfg)
    opt.init(model.trainable_parameters())
    rng = np.random.default_rng(cfg.seed)
    start_step = 0

    meta_path = os.path.join(ckpt_dir, "meta.json")
    if os.path.exists(meta_path):
        with open(meta_path) as f:
            meta = json.load(f)
        model.load_weights(os.path.join(ckpt_dir, "weights.safetensors"))
        opt_flat = mx.load(os.path.join(ckpt_dir, "optimizer.safetensors"))
        opt.state = tree_unflatten(list(opt_flat.items()))
        rng.bit_generator.state = meta["rng_state"]
        start_step = meta["step"]
        mx.eval(model.parameters(), opt.state)
        ref = mx.load(os.path.join(ckpt_dir, "weights.safetensors"))
        worst = max(mx.abs(p - ref[k]).max().item()
                    for k, p in tree_flatten(model.parameters()))
        print(f"# session {session}: resumed at step {start_step} from {ckpt_dir} "
              f"(max |w - ckpt| = {worst:.1e}, adamw step in state = "
              f"{opt.state['states'][1]['step'].item()})")
    else:
        print(f"# session {session}: no checkpoint, fresh start "
              f"(untrained val bpb {val_bpb(model, val, cfg):.3f})")

    step_fn = nn.value_and_grad(model, loss_fn)
    window_losses = []
    step = start_step
    while step < cfg.steps_total:
        starts = rng.integers(0, len(train) - cfg.ctx - 1, size=cfg.batch)
        x, y = windows(train, starts, cfg.ctx)
        loss, grads = step_fn(model, x, y)
        if step == 0:
            flat = tree_flatten(grads)
            dead = [k for k, g in flat if mx.abs(g).max().item() == 0.0]
            print(f"# gradient check: {len(flat)} leaves, all-zero: {dead or 'none'}")
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window_losses.append(loss.item())
        step += 1

        if step % cfg.report_every == 0:
            lr = opt.optimizers[1].learning_rate.item()
            r = Report(session, step, round(lr, 6),
                       round(float(np.mean(window_losses)) / math.log(2), 4),
                       round(val_bpb(model, val, cfg), 4),
                       round(time.perf_counter() - t0, 1))
            print(r)
            log.append(r)
            window_losses = []

        if session == 1 and step == cfg.preempt_at:
            model.save_weights(os.path.join(ckpt_dir, "weights.safetensors"))
            mx.save_safetensors(os.path.join(ckpt_dir, "optimizer.safetensors"),
                                dict(tree_flatten(opt.state)))
            with open(meta_path, "w") as f:
                json.dump({"step": step, "rng_state": rng.bit_generator.state}, f)
            print(f"# session {session}: checkpoint written at step {step}; "
                  f"simulating pre-emption")
            return None
    return model


def main():
    cfg = Cfg()
    t0 = time.perf_counter()
    drng = np.random.default_rng(2024)
    train = build_corpus(drng, 5000)
    val = build_corpus(drng, 300)
    counts = np.bincount(train, minlength=256).astype(np.float64) + 1e-9
    p = counts / counts.sum()
    unigram = -(np.log2(p[val])).mean()
    print(f"# corpus: {len(train)} train bytes, {len(val)} val bytes, "
          f"{len(np.unique(train))} distinct byte values, "
          f"unigram val bpb {unigram:.3f}")
    log = []
    with tempfile.TemporaryDirectory() as ckpt_dir:
        run_session(1, cfg, train, val, ckpt_dir, t0, log)
        model = run_session(2, cfg, train, val, ckpt_dir, t0, log)
    print(f"# done: val bpb {log[0].val_bpb:.3f} at step {log[0].step} -> "
          f"{log[-1].val_bpb:.3f} at step {log[-1].step} (unigram {unigram:.3f}), "
          f"{time.perf_counter() - t0:.1f}s")


if __name__ == "__main__":
    main()
