# Pipe-organ voicing assistant: predict how far a flue pipe will speak off
# its target pitch (cents) and how much cut-up correction (mm) the voicer will
# apply, from 9 workshop measurements of the pipe.
#
# The run is written to survive interruption: every 100 steps a single
# safetensors file holds the weights, the optimizer state, the step and the
# numpy batch-sampler state (as metadata). The job is told to stop at step
# 370 (as a cluster preemption would), then restarts from the newest
# checkpoint (step 300) and re-does steps 301-370 before going on to the end.
# A second, uninterrupted run with the same seeds is trained as a reference
# and the two final weight sets are compared.

import glob
import json
import os
import tempfile

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

TOTAL_STEPS = 900
SAVE_EVERY = 100
STOP_AT = 370
BATCH = 96


def make_pipes(n, rng):
    # scale (mm), mouth width ratio, cut-up ratio, languid depth, wind (mm wg),
    # toe bore (mm), metal (0 = spotted, 1 = tin), wall (mm), nicking count
    x = np.column_stack([
        rng.uniform(20, 160, n), rng.uniform(0.18, 0.30, n), rng.uniform(0.20, 0.35, n),
        rng.uniform(0.5, 2.5, n), rng.uniform(55, 95, n), rng.uniform(3, 14, n),
        rng.integers(0, 2, n), rng.uniform(0.4, 1.2, n), rng.integers(0, 25, n),
    ]).astype(np.float32)
    s, mw, cu, lg, wind, toe, metal, wall, nick = x.T
    flow = toe ** 2 * np.sqrt(wind) / (s * mw * 40.0)
    cents = 60 * (flow - 1.0) - 90 * (cu - 0.27) + 8 * metal - 3 * (lg - 1.5) ** 2 + 0.3 * nick
    cutcorr = 0.04 * s * (flow - 1.0) * (1 - 0.5 * metal) - 6 * (cu - 0.27) + 0.5 * np.tanh(wall - 0.8)
    y = np.column_stack([cents, cutcorr]) + rng.normal(0, [4.0, 0.25], (n, 2))
    return x, y.astype(np.float32)


class VoicingNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(9, 64)
        self.norm = nn.LayerNorm(64)
        self.hid = nn.Linear(64, 64)
        self.out = nn.Linear(64, 2)

    def __call__(self, x):
        h = nn.silu(self.norm(self.inp(x)))
        h = h + nn.silu(self.hid(h))
        return self.out(h)


def schedule():
    warm = optim.linear_schedule(0.0, 3e-3, 80)
    decay = optim.cosine_decay(3e-3, TOTAL_STEPS - 80, 1e-4)
    return optim.join_schedules([warm, decay], [80])


def build(seed):
    mx.random.seed(seed)
    model = VoicingNet()
    opt = optim.Adafactor(learning_rate=schedule(), relative_step=False,
                          scale_parameter=False, beta_1=0.9)
    opt.init(model.trainable_parameters())
    mx.eval(model.parameters(), opt.state)
    return model, opt


class Preempted(Exception):
    pass


def save_ckpt(path, model, opt, step, sampler):
    arrays = {"model." + k: v for k, v in tree_flatten(model.parameters())}
    arrays.update({"opt." + k: v for k, v in tree_flatten(opt.state)})
    meta = {"step": str(step), "sampler": json.dumps(sampler.bit_generator.state)}
    mx.save_safetensors(path, arrays, metadata=meta)


def load_ckpt(path, model, opt, sampler):
    arrays, meta = mx.load(path, return_metadata=True)
    model.update(tree_unflatten([(k[6:], v) for k, v in arrays.items() if k.startswith("model.")]))
    opt.state = tree_unflatten([(k[4:], v) for k, v in arrays.items() if k.startswith("opt.")])
    sampler.bit_generator.state = json.loads(meta["sampler"])
    mx.eval(model.parameters(), opt.state)
    return int(meta["step"])


def train(tag, data, ckdir=None, stop_at=None, log=True):
    xtr, ytr, xva, yva, mu, sd, ymu, ysd = data
    model, opt = build(seed=3)
    sampler = np.random.default_rng(11)
    start = 0
    if ckdir is not None:
        found = sorted(glob.glob(os.path.join(ckdir, "voicing_*.safetensors")))
        if found:
            start = load_ckpt(found[-1], model, opt, sampler)
            print(f"msg=restored file={os.path.basename(found[-1])} step={start} "
                  f"opt_step={opt.state['step'].item()} lr_next={opt.learning_rate.item():.3e}")

    def loss_fn(m, xb, yb):
        return nn.losses.mse_loss(m(xb), yb)

    step_fn = nn.value_and_grad(model, loss_fn)
    for step in range(start + 1, TOTAL_STEPS + 1):
        if stop_at is not None and step == stop_at + 1:
            raise Preempted(step - 1)
        lr_used = opt.learning_rate.item()
        idx = mx.array(sampler.integers(0, xtr.shape[0], BATCH))
        loss, grads = step_fn(model, xtr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if ckdir is not None and step % SAVE_EVERY == 0:
            save_ckpt(os.path.join(ckdir, f"voicing_{step:04d}.safetensors"), model, opt, step, sampler)
        if log and (step % 50 == 0 or step == 1):
            pred = model(xva) * ysd + ymu
            err = pred - (yva * ysd + ymu)
            rmse = mx.sqrt(mx.mean(err ** 2, axis=0))
            print(f"run={tag} step={step:04d} lr={lr_used:.3e} train_mse_z={loss.item():.4f} "
                  f"val_pitch_rmse_cents={rmse[0].item():.2f} val_cutup_rmse_mm={rmse[1].item():.3f}")
    return model


def main():
    rng = np.random.default_rng(5)
    x, y = make_pipes(7000, rng)
    xtr, ytr, xva, yva = x[:6000], y[:6000], x[6000:], y[6000:]
    mu, sd = xtr.mean(0), xtr.std(0)
    ymu, ysd = ytr.mean(0), ytr.std(0)
    base = np.sqrt(((yva - ymu) ** 2).mean(0))
    print(f"msg=data train={len(xtr)} val={len(xva)} mean_predictor_rmse_cents={base[0]:.2f} "
          f"mean_predictor_rmse_mm={base[1]:.3f} noise_floor_cents=4.00 noise_floor_mm=0.250")
    data = tuple(mx.array(a) for a in ((xtr - mu) / sd, (ytr - ymu) / ysd, (xva - mu) / sd,
                                        (yva - ymu) / ysd)) + (mu, sd, mx.array(ymu), mx.array(ysd))

    ckdir = tempfile.mkdtemp(suffix="_voicing_ck_")
    try:
        train("A", data, ckdir=ckdir, stop_at=STOP_AT)
    except Preempted as p:
        print(f"msg=stopped_by_scheduler at_step={p.args[0]} "
              f"checkpoints={','.join(sorted(os.listdir(ckdir)))}")
    resumed = train("A", data, ckdir=ckdir)
    reference = train("ref", data, log=False)

    diffs = [mx.max(mx.abs(a - b)).item() for (_, a), (_, b) in
             zip(tree_flatten(resumed.parameters()), tree_flatten(reference.parameters()))]
    print(f"msg=resume_vs_uninterrupted max_abs_weight_diff={max(diffs):.3e} leaves={len(diffs)}")
    for name, m in (("resumed", resumed), ("uninterrupted", reference)):
        pred = m(data[2]) * data[7] + data[6]
        err = pred - (data[3] * data[7] + data[6])
        rmse = mx.sqrt(mx.mean(err ** 2, axis=0))
        print(f"msg=final model={name} val_pitch_rmse_cents={rmse[0].item():.2f} "
              f"val_cutup_rmse_mm={rmse[1].item():.3f}")


if __name__ == "__main__":
    main()
