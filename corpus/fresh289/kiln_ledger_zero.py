"""Glaze shrinkage (%) of a kiln load from eight firing-log readings.

Two-process data-parallel run on one machine: when started plainly the script
re-launches itself with mlx.launch over the ring backend (2 ranks).  Each rank
trains on its own half of the kiln ledger, gradients are averaged across ranks,
and the AdamW state is split between ranks: every rank keeps moments only for
its half of the flattened parameter vector, updates that half, and the halves
are all-gathered back into the full model each step.

Schedule: linear warm-up from exactly lr 0, then cosine decay.  Half way the
run writes a checkpoint (full weights + each rank's optimizer shard), rebuilds
model and optimizer from a different seed, restores them and carries on.
"""

import math
import os
import shutil
import subprocess
import sys
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

N_FEAT = 8
NOISE_SD = 0.25          # % shrinkage reading noise of the ledger
STEPS = 400
WARMUP = 40
CKPT_AT = 200
BATCH_PER_RANK = 64
PEAK_LR = 3e-3


def relaunch():
    ckdir = tempfile.mkdtemp()
    env = dict(os.environ, KILN_LEDGER_DIR=ckdir)
    cmd = [sys.executable, "-c",
           "import sys; from mlx._distributed_utils.launch import main; "
           "sys.argv[0] = 'mlx.launch'; sys.exit(main())",
           "-n", "2", "--backend", "ring", "--python", sys.executable,
           os.path.abspath(__file__)]
    rc = subprocess.run(cmd, env=env).returncode
    shutil.rmtree(ckdir, ignore_errors=True)
    return rc


class Shrink(nn.Module):
    def __init__(self, h=64):
        super().__init__()
        self.a = nn.Linear(N_FEAT, h)
        self.b = nn.Linear(h, h)
        self.norm = nn.LayerNorm(h)
        self.head = nn.Linear(h, 1)

    def __call__(self, x):
        z = nn.silu(self.a(x))
        z = z + nn.silu(self.b(self.norm(z)))
        return self.head(z)[:, 0]


def ledger(key, n):
    k1, k2 = mx.random.split(key)
    x = mx.random.normal((n, N_FEAT), key=k1)
    peak_c, ramp, soak, clay_h2o, silica, flux, load, vent = [x[:, i] for i in range(8)]
    y = (11.0 + 1.3 * peak_c + 0.6 * mx.tanh(soak) - 0.5 * clay_h2o * silica
         + 0.4 * flux ** 2 - 0.3 * ramp * vent + 0.2 * load)
    return x, y + NOISE_SD * mx.random.normal((n,), key=k2)


def lr_at(step):
    if step <= WARMUP:
        return PEAK_LR * (step - 1) / WARMUP          # step 1 -> exactly 0
    t = (step - WARMUP) / (STEPS - WARMUP)
    return 1e-5 + 0.5 * (PEAK_LR - 1e-5) * (1 + math.cos(math.pi * t))


def main():
    world = mx.distributed.init()
    rank, size = world.rank(), world.size()
    say = print if rank == 0 else (lambda *a, **k: None)

    data_key = mx.random.key(2024)
    k_tr, k_va = mx.random.split(data_key)
    X, Y = ledger(k_tr, 4096)
    Xv, Yv = ledger(k_va, 1024)
    Xs, Ys = X[rank::size], Y[rank::size]
    mx.eval(Xs, Ys, Xv, Yv)

    def build(seed):
        mx.random.seed(seed)
        m = Shrink()
        mx.eval(m.parameters())
        return m

    model = build(11)
    flat = tree_flatten(model.trainable_parameters())
    keys = [k for k, _ in flat]
    shapes = [v.shape for _, v in flat]
    sizes = [v.size for _, v in flat]
    total = sum(sizes)
    shard = -(-total // size)
    padded = shard * size
    lo, hi = rank * shard, (rank + 1) * shard

    def to_vec(tree):
        parts = [v.reshape(-1) for _, v in tree_flatten(tree)]
        v = mx.concatenate(parts)
        return mx.pad(v, (0, padded - total))

    def from_vec(v):
        out, off = [], 0
        for k, s, n in zip(keys, shapes, sizes):
            out.append((k, v[off:off + n].reshape(s)))
            off += n
        return tree_unflatten(out)

    opt = optim.AdamW(learning_rate=0.0, weight_decay=0.01)
    loss_grad = nn.value_and_grad(model, lambda m, x, y: nn.losses.mse_loss(m(x), y))

    def step_fn(x, y, lr):
        loss, grads = loss_grad(model, x, y)
        grads = nn.average_gradients(grads, group=world)
        gvec = to_vec(grads)
        pvec = to_vec(model.trainable_parameters())
        opt.learning_rate = lr
        new = opt.apply_gradients({"s": gvec[lo:hi]}, {"s": pvec[lo:hi]})["s"]
        full = mx.distributed.all_gather(new[None], group=world).reshape(-1)
        model.update(from_vec(full[:total]))
        return mx.distributed.all_sum(loss, group=world) / size

    def val_rmse():
        return mx.sqrt(nn.losses.mse_loss(model(Xv), Yv)).item()

    base = mx.sqrt(mx.mean((Yv - Y.mean()) ** 2)).item()
    print(f"rank {rank}/{size}: {Xs.shape[0]} ledger rows, optimizer owns "
          f"params[{lo}:{min(hi, total)}] of {total}", flush=True)
    mx.eval(mx.distributed.all_sum(mx.array(1.0), group=world))
    say(f"mean-predictor val RMSE {base:.3f} %  | reading noise floor {NOISE_SD:.3f} %")
    say(f"step    0  val_rmse {val_rmse():.3f}")

    ckdir = os.environ.get("KILN_LEDGER_DIR") or tempfile.mkdtemp()
    rng = mx.random.key(100 + rank)
    before = to_vec(model.trainable_parameters())
    t0 = time.time()
    window = []
    step = 1
    while step <= STEPS:
        rng, k = mx.random.split(rng)
        idx = mx.random.randint(0, Xs.shape[0], (BATCH_PER_RANK,), key=k)
        lr = lr_at(step)
        loss = step_fn(Xs[idx], Ys[idx], lr)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        if step == 1:
            moved = (to_vec(model.trainable_parameters()) != before).sum().item()
            say(f"step    1  lr {lr:.2e}  entries moved {moved}/{total} (warm-up starts at 0)")
        if step % 50 == 0:
            say(f"step {step:4d}  lr {lr:.2e}  train_mse {sum(window) / len(window):.4f}"
                f"  val_rmse {val_rmse():.3f}  ({time.time() - t0:.1f}s)")
            window = []
        if step == CKPT_AT:
            if rank == 0:
                model.save_weights(os.path.join(ckdir, "kiln_model.safetensors"))
            mx.save_safetensors(os.path.join(ckdir, f"kiln_opt_r{rank}.safetensors"),
                                dict(tree_flatten(opt.state)))
            mx.eval(mx.distributed.all_sum(mx.array(1.0), group=world))
            v_before = val_rmse()
            model = build(999)
            opt = optim.AdamW(learning_rate=0.0, weight_decay=0.01)
            loss_grad = nn.value_and_grad(
                model, lambda m, x, y: nn.losses.mse_loss(m(x), y))
            v_fresh = val_rmse()
            model.load_weights(os.path.join(ckdir, "kiln_model.safetensors"))
            opt.state = tree_unflatten(list(mx.load(
                os.path.join(ckdir, f"kiln_opt_r{rank}.safetensors")).items()))
            mx.eval(model.parameters(), opt.state)
            say(f"checkpoint @ {step}: val_rmse {v_before:.3f} | fresh model {v_fresh:.3f}"
                f" | restored {val_rmse():.3f} | opt step {opt.state['step'].item()}")
        step += 1

    final = val_rmse()
    say(f"done  val_rmse {final:.3f} %  (mean predictor {base:.3f}, noise floor {NOISE_SD:.3f})"
        f"  {time.time() - t0:.1f}s")


if __name__ == "__main__":
    if "MLX_RANK" not in os.environ:
        sys.exit(relaunch())
    main()
