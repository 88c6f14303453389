"""Hop kiln cone grading with an early-exit grader.

Four dried-cone grades from ten kiln-log readings. One network, three exits
(after block 1, 2 and 3). Every exit learns the grades; the two shallow exits
also learn from the deepest exit through a generalised Jensen-Shannon term at
temperature 2 (the deepest exit's probabilities are held fixed for that term).
Training is split into two sittings with a checkpoint in between.
"""
import json
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

SEED = 7
N_TRAIN, N_VALID = 6000, 2000
FEATURES, GRADES = 10, 4
TEMP, BETA, KD_W = 2.0, 0.5, 0.6
EPOCHS, SPLIT_AT, BATCH = 14, 6, 100
REPORT_AT = {1, 2, 4, 6, 9, 14}


def make_kiln_logs(n, rng):
    x = rng.normal(size=(n, FEATURES)).astype(np.float32)
    w1 = np.linspace(-1.0, 1.0, FEATURES * GRADES).reshape(FEATURES, GRADES)
    w1 = np.sin(3.1 * w1) + 0.3 * np.cos(7.0 * w1.T).T
    score = np.tanh(x @ w1) * 2.2 + 0.6 * (x[:, :GRADES] * x[:, GRADES:2 * GRADES])
    gumbel = -np.log(-np.log(rng.uniform(1e-9, 1.0, size=score.shape)))
    y = np.argmax(score + 0.9 * gumbel, axis=1).astype(np.int32)
    return x, y


class ExitLadder(nn.Module):
    def __init__(self, width=64):
        super().__init__()
        self.stem = nn.Linear(FEATURES, width)
        self.blocks = [nn.Sequential(nn.LayerNorm(width), nn.Linear(width, width), nn.GELU())
                       for _ in range(3)]
        self.heads = [nn.Linear(width, GRADES) for _ in range(3)]

    def __call__(self, x):
        h = self.stem(x)
        outs = []
        for block, head in zip(self.blocks, self.heads):
            h = h + block(h)
            outs.append(head(h))
        return outs


def gen_jsd(student_logits, target_logits, beta):
    """Generalised JSD between softened distributions; target is held fixed."""
    lp_s = nn.log_softmax(student_logits / TEMP, axis=-1)
    lp_t = mx.stop_gradient(nn.log_softmax(target_logits / TEMP, axis=-1))
    p_s, p_t = mx.exp(lp_s), mx.exp(lp_t)
    lp_m = mx.log(beta * p_t + (1.0 - beta) * p_s + 1e-12)
    kl_t = mx.sum(p_t * (lp_t - lp_m), axis=-1)
    kl_s = mx.sum(p_s * (lp_s - lp_m), axis=-1)
    return mx.mean(beta * kl_t + (1.0 - beta) * kl_s) * TEMP * TEMP


def objective(model, xb, yb):
    outs = model(xb)
    ce = [nn.losses.cross_entropy(o, yb, reduction="mean") for o in outs]
    kd = gen_jsd(outs[0], outs[2], BETA) + gen_jsd(outs[1], outs[2], BETA)
    total = sum(ce) / 3.0 + KD_W * kd
    return total, (ce[2], kd)


def evaluate(model, x, y):
    outs = model(x)
    rows = []
    for o in outs:
        ce = nn.losses.cross_entropy(o, y, reduction="mean").item()
        acc = mx.mean(mx.argmax(o, axis=-1) == y).item()
        rows.append((ce, acc))
    agree = [mx.mean(mx.argmax(outs[k], -1) == mx.argmax(outs[2], -1)).item() for k in range(2)]
    return rows, agree


def build(steps_total):
    model = ExitLadder()
    warm = optim.linear_schedule(0.0, 3e-3, 50)
    decay = optim.cosine_decay(3e-3, steps_total - 50, end=1e-4)
    opt = optim.AdamW(learning_rate=optim.join_schedules([warm, decay], [50]), weight_decay=1e-4)
    return model, opt


def run_epochs(model, opt, x_tr, y_tr, x_va, y_va, first, last, rng, t0):
    step_fn = nn.value_and_grad(model, objective)
    n = x_tr.shape[0]
    for epoch in range(first, last + 1):
        perm = mx.array(rng.permutation(n).astype(np.int32))
        tot_sum, kd_sum, nb = 0.0, 0.0, 0
        for i in range(0, n - BATCH + 1, BATCH):
            idx = perm[i:i + BATCH]
            (total, (ce_deep, kd)), grads = step_fn(model, x_tr[idx], y_tr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, total, kd)
            tot_sum += total.item()
            kd_sum += kd.item()
            nb += 1
        if epoch in REPORT_AT:
            rows, agree = evaluate(model, x_va, y_va)
            lr = opt.learning_rate.item()
            print(f"epoch {epoch:2d}/{EPOCHS}  step {int(opt.step.item()):5d}  lr {lr:.2e}  "
                  f"objective {tot_sum / nb:.4f}  jsd {kd_sum / nb:.4f}  t+{time.time() - t0:5.1f}s")
            for k, (ce, acc) in enumerate(rows):
                extra = f"  agrees with exit 3: {100 * agree[k]:5.1f}%" if k < 2 else ""
                print(f"    exit {k + 1}: valid CE {ce:.4f}  valid acc {100 * acc:5.1f}%{extra}")


def main():
    rng = np.random.default_rng(SEED)
    mx.random.seed(SEED)
    x_np, y_np = make_kiln_logs(N_TRAIN + N_VALID, rng)
    mu, sd = x_np[:N_TRAIN].mean(0), x_np[:N_TRAIN].std(0)
    x_np = (x_np - mu) / sd
    x_tr, y_tr = mx.array(x_np[:N_TRAIN]), mx.array(y_np[:N_TRAIN])
    x_va, y_va = mx.array(x_np[N_TRAIN:]), mx.array(y_np[N_TRAIN:])
    prior = np.bincount(y_np[:N_TRAIN], minlength=GRADES) / N_TRAIN
    major = float(np.mean(y_np[N_TRAIN:] == np.argmax(prior)))
    print(f"hop kiln logs: {N_TRAIN} train / {N_VALID} valid, grade shares "
          + " ".join(f"{p:.2f}" for p in prior))
    print(f"reference: majority-grade valid acc {100 * major:.1f}%, "
          f"prior entropy {-(prior * np.log(prior)).sum():.4f} nats")

    steps_per_epoch = N_TRAIN // BATCH
    total_steps = EPOCHS * steps_per_epoch
    model, opt = build(total_steps)
    n_params = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    print(f"grader: 3 exits, {n_params} weights; AdamW, warm-up from 0 over 50 steps, cosine to 1e-4")

    # gradient audit on one batch before any step
    (_, _), g0 = nn.value_and_grad(model, objective)(model, x_tr[:BATCH], y_tr[:BATCH])
    leaves = tree_flatten(g0)
    nz = sum(1 for _, g in leaves if mx.any(g != 0).item())
    print(f"gradient audit: {nz}/{len(leaves)} leaves non-zero")

    t0 = time.time()
    print(f"sitting 1: epochs 1-{SPLIT_AT}")
    run_epochs(model, opt, x_tr, y_tr, x_va, y_va, 1, SPLIT_AT, rng, t0)

    with tempfile.TemporaryDirectory() as tmp:
        model.save_weights(os.path.join(tmp, "grader.safetensors"))
        mx.save_safetensors(os.path.join(tmp, "opt.safetensors"), dict(tree_flatten(opt.state)))
        with open(os.path.join(tmp, "meta.json"), "w") as fh:
            json.dump({"epoch": SPLIT_AT}, fh)
        probe = model(x_va[:64])[2]
        mx.eval(probe)
        del model, opt
        model, opt = build(total_steps)
        model.load_weights(os.path.join(tmp, "grader.safetensors"))
        opt.init(model.trainable_parameters())
        opt.state = tree_unflatten(list(mx.load(os.path.join(tmp, "opt.safetensors")).items()))
        with open(os.path.join(tmp, "meta.json")) as fh:
            done = json.load(fh)["epoch"]
        gap = mx.max(mx.abs(model(x_va[:64])[2] - probe)).item()
        print(f"checkpoint: resumed after epoch {done} at step {int(opt.step.item())}, "
              f"prediction gap {gap:.1e}")

    print(f"sitting 2: epochs {SPLIT_AT + 1}-{EPOCHS}")
    run_epochs(model, opt, x_tr, y_tr, x_va, y_va, SPLIT_AT + 1, EPOCHS, rng, t0)
    rows, _ = evaluate(model, x_va, y_va)
    print("done: " + "  ".join(f"exit {k + 1} {100 * a:.1f}%" for k, (_, a) in enumerate(rows))
          + f"  (majority {100 * major:.1f}%)  {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
