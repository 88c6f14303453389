"""Organ windchest: regress wind-pressure sag (mm water gauge) when stops are drawn.

Synthetic organ-builder survey: 6 readings per chord event (stops drawn,
notes held, reservoir weights kg, trunk length m, blower rpm/1000, room temp C).
The run is interrupted on purpose at step 180 (a simulated power cut), then a
brand-new process-like state (fresh model object with a different init, fresh
optimizer, fresh data generator) restores everything from the last
safetensors checkpoint and finishes. A second, uninterrupted run is trained
beside it as the reference, and the two final weight sets are compared.
Finally the checkpoint is exported to bfloat16 and re-evaluated.
"""

import json
import os
import shutil
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

TOTAL_STEPS = 360
CUT_AT = 180
SAVE_EVERY = 60
BATCH = 64


def survey(n, seed):
    r = np.random.default_rng(seed)
    stops = r.integers(1, 30, n)
    notes = r.integers(1, 11, n)
    weights = r.uniform(20, 120, n)
    trunk = r.uniform(1, 12, n)
    rpm = r.uniform(1.2, 3.0, n)
    temp = r.uniform(5, 25, n)
    demand = stops * notes / 30.0
    sag = 2.0 * demand / (rpm * np.sqrt(weights / 60)) + 0.15 * trunk * demand ** 0.5 + 0.03 * (temp - 15)
    sag = sag + r.normal(0, 0.25, n)
    x = np.stack([stops / 30, notes / 10, weights / 120, trunk / 12, rpm / 3, temp / 25], 1)
    return mx.array(x.astype(np.float32)), mx.array(sag.astype(np.float32))


class SagNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(6, 48)
        self.mid = nn.Linear(48, 48)
        self.norm = nn.LayerNorm(48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        h = nn.silu(self.inp(x))
        h = h + nn.silu(self.mid(self.norm(h)))
        return self.out(h).squeeze(-1)


def schedule():
    warm = optim.linear_schedule(0.0, 3e-3, 40)
    decay = optim.cosine_decay(3e-3, TOTAL_STEPS - 40, 1e-4)
    return optim.join_schedules([warm, decay], [40])


def loss_fn(model, x, y):
    return nn.losses.huber_loss(model(x), y, delta=1.0, reduction="mean")


def save_ckpt(folder, step, model, opt, data_rng):
    os.makedirs(folder, exist_ok=True)
    mx.save_safetensors(os.path.join(folder, "model.safetensors"), dict(tree_flatten(model.parameters())))
    mx.save_safetensors(os.path.join(folder, "optimizer.safetensors"), dict(tree_flatten(opt.state)))
    with open(os.path.join(folder, "trainer.json"), "w") as f:
        json.dump({"step": step, "data_rng": data_rng.bit_generator.state}, f)


def load_ckpt(folder, model, opt):
    model.load_weights(os.path.join(folder, "model.safetensors"), strict=True)
    opt.state = tree_unflatten(list(mx.load(os.path.join(folder, "optimizer.safetensors")).items()))
    with open(os.path.join(folder, "trainer.json")) as f:
        meta = json.load(f)
    rng = np.random.default_rng()
    rng.bit_generator.state = meta["data_rng"]
    mx.eval(model.parameters(), opt.state)
    return meta["step"], rng


def run(tag, train, val, ckpt_dir, stop_at=None, resume=False, init_seed=1):
    mx.random.seed(init_seed)
    model = SagNet()
    opt = optim.AdamW(learning_rate=schedule(), weight_decay=1e-4)
    opt.init(model.trainable_parameters())
    mx.eval(model.parameters(), opt.state)
    start, rng = 0, np.random.default_rng(7)
    if resume:
        start, rng = load_ckpt(ckpt_dir, model, opt)
        print(f"[{tag}] restored step {start} from {os.path.basename(ckpt_dir)}, "
              f"optimizer step counter {opt.state['step'].item()}, lr now {opt.learning_rate.item():.2e}")
    step_fn = nn.value_and_grad(model, loss_fn)
    xs, ys = train
    window = []
    for step in range(start + 1, TOTAL_STEPS + 1):
        idx = mx.array(rng.integers(0, xs.shape[0], BATCH))
        loss, grads = step_fn(model, xs[idx], ys[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        if step % 30 == 0:
            vmae = mx.abs(model(val[0]) - val[1]).mean().item()
            print(f"[{tag}] step {step:3d} lr {opt.learning_rate.item():.2e} "
                  f"huber {np.mean(window):.4f} val_mae_mm {vmae:.3f}", flush=True)
            window = []
        if step % SAVE_EVERY == 0:
            save_ckpt(ckpt_dir, step, model, opt, rng)
        if stop_at is not None and step == stop_at:
            print(f"[{tag}] power cut after step {step}; process state discarded")
            return None
    return model


def main():
    t0 = time.time()
    train = survey(4000, 0)
    val = survey(800, 1)
    base_mae = mx.abs(val[1] - train[1].mean()).mean().item()
    print(f"constant-mean baseline val_mae_mm {base_mae:.3f}; noise floor ~{0.25 * 0.798:.3f}")

    root = tempfile.mkdtemp()
    ref_dir, cut_dir = os.path.join(root, "ref"), os.path.join(root, "cut")

    ref = run("reference", train, val, ref_dir)
    run("interrupted", train, val, cut_dir, stop_at=CUT_AT)
    resumed = run("resumed", train, val, cut_dir, resume=True, init_seed=99)

    diffs = [mx.abs(a - b).max().item() for (_, a), (_, b) in
             zip(tree_flatten(ref.parameters()), tree_flatten(resumed.parameters()))]
    print(f"resume parity: max |w_ref - w_resumed| = {max(diffs):.3e}")

    half = {k: v.astype(mx.bfloat16) for k, v in dict(tree_flatten(resumed.parameters())).items()}
    export = os.path.join(root, "sagnet_bf16.safetensors")
    mx.save_safetensors(export, half)
    served = SagNet()
    served.load_weights(export, strict=True)
    served.set_dtype(mx.float32)
    mae32 = mx.abs(resumed(val[0]) - val[1]).mean().item()
    mae16 = mx.abs(served(val[0]) - val[1]).mean().item()
    print(f"export: fp32 val_mae_mm {mae32:.3f} | bf16 round-trip val_mae_mm {mae16:.3f} "
          f"| file {os.path.getsize(export)} bytes")
    shutil.rmtree(root, ignore_errors=True)
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
