"""Tunnel boring machine: advance rate (mm/min) from cutterhead readings.

Warmup-stable-decay learning rate (starts at exactly 0), and the run is split
across two OS processes: the first one trains the early steps, writes a
checkpoint (weights + optimizer state incl. its step counter) and then starts
a second interpreter on this same file that resumes and finishes the schedule.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

WARM, STABLE, DECAY = 60, 400, 240
TOTAL = WARM + STABLE + DECAY
PEAK = 2e-3
HANDOFF = 350
BATCH = 96
REPORT = 35
FEATURES = ["thrust_MN", "rpm", "chamber_bar", "ucs_MPa", "cerchar", "foam_ratio", "wear_h"]


def make_rings(seed=11, n=7000):
    rng = np.random.default_rng(seed)
    thrust = rng.uniform(8, 22, n)
    rpm = rng.uniform(1.0, 3.2, n)
    chamber = rng.uniform(0.5, 3.5, n)
    ucs = rng.lognormal(np.log(60), 0.45, n)
    cai = rng.uniform(0.5, 4.5, n)
    foam = rng.uniform(0.0, 1.0, n)
    wear = rng.uniform(0, 400, n)
    penetration = 9.0 * thrust / np.sqrt(ucs) * (1 - 0.0009 * wear * cai / 2.5)
    rate = penetration * rpm * (1 + 0.12 * foam) - 2.2 * chamber
    rate = np.clip(rate, 2.0, None) + rng.normal(0, 2.5, n)
    X = np.stack([thrust, rpm, chamber, ucs, cai, foam, wear], 1).astype(np.float32)
    y = rate.astype(np.float32)
    return X[:5600], y[:5600], X[5600:], y[5600:]


class AdvanceNet(nn.Module):
    def __init__(self, d_in=7, width=64):
        super().__init__()
        self.inp = nn.Linear(d_in, width)
        self.norm = nn.LayerNorm(width)
        self.hid = nn.Linear(width, width)
        self.out = nn.Linear(width, 1)

    def __call__(self, x):
        h = nn.silu(self.norm(self.inp(x)))
        h = h + nn.silu(self.hid(h))
        return self.out(h).squeeze(-1)


def schedule():
    return optim.join_schedules(
        [
            optim.linear_schedule(0.0, PEAK, WARM),
            optim.linear_schedule(PEAK, PEAK, 1),
            optim.linear_schedule(PEAK, 0.0, DECAY),
        ],
        [WARM, WARM + STABLE],
    )


def phase_of(step):
    if step < WARM:
        return "warmup"
    if step < WARM + STABLE:
        return "stable"
    return "decay"


def setup():
    Xtr, ytr, Xva, yva = make_rings()
    mu, sd = Xtr.mean(0), Xtr.std(0)
    ymu, ysd = float(ytr.mean()), float(ytr.std())
    norm = lambda X: mx.array((X - mu) / sd)
    data = dict(
        Xtr=norm(Xtr), ytr=mx.array((ytr - ymu) / ysd),
        Xva=norm(Xva), yva=mx.array(yva), ymu=ymu, ysd=ysd,
        baseline=float(np.abs(yva - ymu).mean()), ntr=len(ytr),
    )
    mx.random.seed(5)
    model = AdvanceNet()
    mx.eval(model.parameters())
    opt = optim.AdamW(learning_rate=schedule(), weight_decay=1e-3)
    return data, model, opt


def val_mae(model, d):
    pred = model(d["Xva"]) * d["ysd"] + d["ymu"]
    return mx.mean(mx.abs(pred - d["yva"])).item()


def train_span(tag, data, model, opt, start, stop, order_seed):
    loss_fn = lambda m, x, y: nn.losses.mse_loss(m(x), y)
    step_fn = nn.value_and_grad(model, loss_fn)
    rng = np.random.default_rng(order_seed)
    window = []
    for step in range(start, stop):
        idx = mx.array(rng.integers(0, data["ntr"], BATCH))
        before = None
        if step == 0:
            before = [p for _, p in tree_flatten(model.parameters())]
        loss, grads = step_fn(model, data["Xtr"][idx], data["ytr"][idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        lr_used = opt.learning_rate.item()
        window.append(loss.item())
        if before is not None:
            after = [p for _, p in tree_flatten(model.parameters())]
            moved = max(mx.max(mx.abs(a - b)).item() for a, b in zip(after, before))
            gsum = sum(mx.sum(mx.abs(g)).item() for _, g in tree_flatten(grads))
            print(f"[{tag}] first step: lr {lr_used:.1e}  |grad| sum {gsum:.3f}  "
                  f"largest weight change {moved:.1e}")
        if (step + 1) % REPORT == 0 or step + 1 == stop:
            print(f"[{tag}] step {step + 1:4d}/{TOTAL} {phase_of(step):<6s} lr {lr_used:.2e}  "
                  f"mse(std) {np.mean(window):.4f}  val MAE {val_mae(model, data):5.2f} mm/min")
            window = []


def first_process():
    tag = f"pid{os.getpid()}"
    data, model, opt = setup()
    print(f"[{tag}] rings train {data['ntr']} / valid {data['yva'].size}; features {', '.join(FEATURES)}")
    print(f"[{tag}] schedule: warmup {WARM} from 0 -> {PEAK:g}, hold {STABLE}, linear to 0 over {DECAY}")
    print(f"[{tag}] mean-guess val MAE {data['baseline']:.2f} mm/min; untrained {val_mae(model, data):.2f}")
    t0 = time.time()
    train_span(tag, data, model, opt, 0, HANDOFF, order_seed=100)
    ckdir = tempfile.mkdtemp(prefix="tbm_ck_")
    model.save_weights(os.path.join(ckdir, "weights.safetensors"))
    mx.save_safetensors(os.path.join(ckdir, "opt.safetensors"), dict(tree_flatten(opt.state)))
    with open(os.path.join(ckdir, "meta.json"), "w") as f:
        json.dump({"next_step": HANDOFF, "elapsed": time.time() - t0}, f)
    print(f"[{tag}] checkpoint written after step {HANDOFF}; optimizer step counter "
          f"{int(opt.step.item())}; handing over to a fresh interpreter")
    sys.stdout.flush()
    rc = subprocess.run([sys.executable, os.path.abspath(__file__), "--resume", ckdir]).returncode
    for name in os.listdir(ckdir):
        os.remove(os.path.join(ckdir, name))
    os.rmdir(ckdir)
    print(f"[{tag}] second interpreter exited with {rc}; total {time.time() - t0:.1f}s")
    sys.exit(rc)


def second_process(ckdir):
    tag = f"pid{os.getpid()}"
    data, model, opt = setup()
    with open(os.path.join(ckdir, "meta.json")) as f:
        meta = json.load(f)
    model.load_weights(os.path.join(ckdir, "weights.safetensors"))
    opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "opt.safetensors")).items()))
    mx.eval(model.parameters())
    start = meta["next_step"]
    print(f"[{tag}] resumed at step {start} (optimizer step {int(opt.step.item())}); "
          f"val MAE on load {val_mae(model, data):.2f} mm/min")
    train_span(tag, data, model, opt, start, TOTAL, order_seed=200)
    final = val_mae(model, data)
    print(f"[{tag}] final val MAE {final:.2f} mm/min vs mean-guess {data['baseline']:.2f} "
          f"({100 * final / data['baseline']:.0f}% of it); last lr {opt.learning_rate.item():.1e}")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--resume":
        second_process(sys.argv[2])
    else:
        first_process()
