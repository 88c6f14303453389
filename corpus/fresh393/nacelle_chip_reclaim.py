"""Wind farm: gear-tooth chip severity (none / minor / moderate / severe) from
ten nacelle accelerometer features per ten-minute record.

The training job runs on a worker that can be reclaimed. The launcher starts
the worker with subprocess; this time the worker is told to be reclaimed at
step 730 and leaves with exit status 75. The launcher then starts a second
worker that resumes from the last periodic checkpoint (step 500), drops the
JSON log rows written after it, replays the lost steps and finishes the run.
Batch order and dropout masks depend only on the step number, so the replayed
steps reproduce the lost rows.
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

TOTAL = 1500
EVERY_CKPT = 250
BATCH = 64
PREEMPTED = 75


def make_data(seed=3):
    rng = np.random.default_rng(seed)
    n = 8000
    rpm = rng.uniform(8, 22, n)
    load = rng.uniform(0.3, 1.0, n)
    chip = rng.choice(4, n, p=[0.55, 0.25, 0.13, 0.07])
    depth = np.array([0.0, 0.35, 0.8, 1.5])[chip] * rng.uniform(0.7, 1.3, n)
    f = np.zeros((n, 10))
    f[:, 0] = rpm
    f[:, 1] = load
    f[:, 2] = depth * rpm / 12 * (0.6 + load) + rng.normal(0, 0.35, n)       # impact peak
    f[:, 3] = np.log1p(depth * 3) + rng.normal(0, 0.25, n)                   # kurtosis
    f[:, 4] = depth * 0.6 + rng.normal(0, 0.5, n)                            # crest factor
    f[:, 5] = rng.normal(0, 1, n) + 0.3 * (rpm - 15) / 4                   # tower sway
    f[:, 6] = np.sin(depth * 2) + rng.normal(0, 0.6, n)                      # band energy ratio
    f[:, 7] = rng.normal(0, 1, n)                                            # temperature
    f[:, 8] = depth * load + rng.normal(0, 0.4, n)                           # mesh sideband
    f[:, 9] = rng.normal(0, 1, n)                                            # yaw noise
    mu, sd = f[:6000].mean(0), f[:6000].std(0)
    f = ((f - mu) / sd).astype(np.float32)
    return f[:6000], chip[:6000].astype(np.int32), f[6000:], chip[6000:].astype(np.int32)


class ChipNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(10, 96)
        self.norm = nn.LayerNorm(96)
        self.drop = nn.Dropout(0.2)
        self.mid = nn.Linear(96, 96)
        self.head = nn.Linear(96, 4)

    def __call__(self, x):
        h = self.drop(nn.gelu(self.norm(self.inp(x))))
        h = self.drop(nn.gelu(self.mid(h)))
        return self.head(h)


def emit(**kw):
    print(json.dumps(kw), flush=True)


def worker(workdir, preempt_at, resume):
    Xtr, ytr, Xva, yva = make_data()
    Xtr, ytr, Xv, yv = mx.array(Xtr), mx.array(ytr), mx.array(Xva), mx.array(yva)
    spe = len(ytr) // BATCH
    log_path = os.path.join(workdir, "log.jsonl")
    mx.random.seed(0)
    model = ChipNet()
    opt = optim.Adagrad(learning_rate=0.03)
    start = 0
    if resume:
        meta = json.load(open(os.path.join(workdir, "ckpt_meta.json")))
        start = meta["step"]
        model.load_weights(os.path.join(workdir, "ckpt_model.safetensors"))
        opt.init(model.trainable_parameters())
        opt.state = tree_unflatten(list(mx.load(os.path.join(workdir, "ckpt_opt.safetensors")).items()))
        rows = [json.loads(l) for l in open(log_path)]
        keep = [r for r in rows if r["step"] <= start]
        with open(log_path, "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in keep)
        emit(event="resumed", pid=os.getpid(), from_step=start, log_rows_kept=len(keep),
             log_rows_dropped=len(rows) - len(keep))
    else:
        open(log_path, "w").close()
        emit(event="start", pid=os.getpid(), train=int(ytr.shape[0]), val=int(yv.shape[0]),
             class_share=[round(float(np.mean(yva == c)), 3) for c in range(4)],
             majority_acc=round(float(np.mean(yva == 0)), 3))
    mx.eval(model.parameters(), opt.state)

    def loss_fn(m, x, y):
        return nn.losses.cross_entropy(m(x), y, reduction="mean")

    vg = nn.value_and_grad(model, loss_fn)

    def evaluate():
        model.eval()
        logits = model(Xv)
        ce = nn.losses.cross_entropy(logits, yv, reduction="mean").item()
        acc = mx.mean(mx.argmax(logits, -1) == yv).item()
        model.train()
        return ce, acc

    window = []
    t0 = time.time()
    for step in range(start + 1, TOTAL + 1):
        epoch, off = divmod(step - 1, spe)
        if off == 0 or step == start + 1:
            perm = np.random.default_rng([7, epoch]).permutation(len(ytr))
        idx = mx.array(perm[off * BATCH:(off + 1) * BATCH])
        mx.random.seed(10_000 + step)
        loss, g = vg(model, Xtr[idx], ytr[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        if step % 100 == 0:
            ce, acc = evaluate()
            row = dict(step=step, epoch=epoch + 1, train_ce=round(float(np.mean(window)), 5),
                       val_ce=round(ce, 5), val_acc=round(acc, 4), secs=round(time.time() - t0, 2))
            window = []
            with open(log_path, "a") as f:
                f.write(json.dumps(row) + "\n")
            emit(event="progress", **row)
        if step % EVERY_CKPT == 0:
            model.save_weights(os.path.join(workdir, "ckpt_model.tmp.safetensors"))
            mx.save_safetensors(os.path.join(workdir, "ckpt_opt.tmp.safetensors"), dict(tree_flatten(opt.state)))
            os.replace(os.path.join(workdir, "ckpt_model.tmp.safetensors"), os.path.join(workdir, "ckpt_model.safetensors"))
            os.replace(os.path.join(workdir, "ckpt_opt.tmp.safetensors"), os.path.join(workdir, "ckpt_opt.safetensors"))
            json.dump({"step": step}, open(os.path.join(workdir, "ckpt_meta.json"), "w"))
            emit(event="checkpoint", step=step)
        if preempt_at and step == preempt_at:
            emit(event="reclaimed", step=step, note="worker reclaimed, leaving with status 75")
            sys.exit(PREEMPTED)
    emit(event="finished", step=TOTAL)


def launcher():
    with tempfile.TemporaryDirectory() as workdir:
        print(f"launcher: work dir {workdir}", flush=True)
        lost = {}
        r = subprocess.run([sys.executable, __file__, "--worker", workdir, "730"])
        print(f"launcher: first worker exit status {r.returncode}", flush=True)
        if r.returncode != PREEMPTED:
            sys.exit(r.returncode)
        for l in open(os.path.join(workdir, "log.jsonl")):
            row = json.loads(l)
            lost[row["step"]] = row
        r = subprocess.run([sys.executable, __file__, "--worker", workdir, "0", "--resume"])
        print(f"launcher: second worker exit status {r.returncode}", flush=True)
        rows = {json.loads(l)["step"]: json.loads(l) for l in open(os.path.join(workdir, "log.jsonl"))}
        for s in sorted(k for k in lost if k > 500):
            print(f"launcher: step {s} before reclaim val_ce {lost[s]['val_ce']:.5f} / replayed {rows[s]['val_ce']:.5f}")
        last = rows[TOTAL]
        print(f"launcher: log has {len(rows)} rows; final val_ce {last['val_ce']:.4f}, val_acc {100 * last['val_acc']:.1f}%")
        sys.exit(r.returncode)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2], int(sys.argv[3]), "--resume" in sys.argv)
    else:
        launcher()
