# Fingerspelling segmentation: per-frame B/I/O tags for 3 handshapes from a
# 6-channel data-glove stream, conv emission net + linear-chain CRF.
# Stage A trains emissions only (transition table held at zero), stage B
# adds the transition table with a fresh optimizer; the run is checkpointed
# midway through stage B and resumed from disk.
import os, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

T, C, K = 20, 6, 3
NT = 1 + 2 * K                      # O, B0, I0, B1, I1, B2, I2
rng = np.random.default_rng(7)
SHAPES = rng.normal(0, 1.0, size=(K, C)).astype(np.float32)


def make_split(n, label_noise):
    X = np.zeros((n, T, C), np.float32)
    Y = np.zeros((n, T), np.int32)
    for i in range(n):
        t = 0
        while t < T:
            gap = rng.integers(1, 3)
            t += gap
            if t >= T:
                break
            k = rng.integers(0, K)
            L = rng.integers(3, 6)
            for j in range(L):
                if t + j >= T:
                    break
                Y[i, t + j] = 1 + 2 * k + (0 if j == 0 else 1)
                X[i, t + j] = SHAPES[k] * 0.9
                if j == 0:
                    X[i, t + j, 5] += 0.8          # onset flex spike
            t += L
    X += rng.normal(0, 0.7, size=X.shape).astype(np.float32)
    Yn = Y.copy()
    flip = rng.random(Y.shape) < label_noise
    Yn[flip] = rng.integers(0, NT, size=flip.sum())
    return mx.array(X), mx.array(Yn), mx.array(Y)


class Tagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(C, 32, kernel_size=3, padding=1)
        self.head = nn.Linear(32, NT)
        self.trans = mx.zeros((NT, NT))
        self.start = mx.zeros((NT,))

    def emissions(self, x):
        return self.head(nn.relu(self.conv(x)))

    def log_partition(self, e):
        alpha = self.start + e[:, 0]
        for t in range(1, T):
            alpha = mx.logsumexp(alpha[:, :, None] + self.trans[None], axis=1) + e[:, t]
        return mx.logsumexp(alpha, axis=1)

    def path_score(self, e, y):
        emit = mx.take_along_axis(e, y[..., None], axis=2).squeeze(-1).sum(axis=1)
        tr = self.trans[y[:, :-1], y[:, 1:]].sum(axis=1)
        return emit + tr + self.start[y[:, 0]]

    def viterbi(self, x):
        e = self.emissions(x)
        score = self.start + e[:, 0]
        back = []
        for t in range(1, T):
            cand = score[:, :, None] + self.trans[None]
            back.append(mx.argmax(cand, axis=1))
            score = mx.max(cand, axis=1) + e[:, t]
        best = mx.argmax(score, axis=1)
        path = [best]
        for bp in reversed(back):
            best = mx.take_along_axis(bp, best[:, None], axis=1).squeeze(1)
            path.append(best)
        return mx.stack(path[::-1], axis=1), e


def loglik_per_token(model, x, y):
    e = model.emissions(x)
    return (model.path_score(e, y) - model.log_partition(e)).mean() / T


def loss_fn(model, x, y):
    return -loglik_per_token(model, x, y)


def segments(tags):
    segs, cur = set(), None
    for t, v in enumerate(tags):
        v = int(v)
        if v == 0:
            if cur: segs.add(cur + (t,)); cur = None
        elif (v - 1) % 2 == 0:
            if cur: segs.add(cur + (t,))
            cur = ((v - 1) // 2, t)
        else:
            if cur is None or cur[0] != (v - 1) // 2:
                if cur: segs.add(cur + (t,))
                cur = ((v - 1) // 2, t)
    if cur: segs.add(cur + (T,))
    return segs


def evaluate(model, x, y):
    path, e = model.viterbi(x)
    acc = (path == y).mean().item()
    emit_acc = (mx.argmax(e, axis=-1) == y).mean().item()
    P, Yn = np.array(path), np.array(y)
    tp = fp = fn = 0
    for p, g in zip(P, Yn):
        sp, sg = segments(p), segments(g)
        tp += len(sp & sg); fp += len(sp - sg); fn += len(sg - sp)
    f1 = 2 * tp / max(1, 2 * tp + fp + fn)
    return acc, emit_acc, f1


def run_steps(model, opt, step0, n, xtr, ytr, log_every, xva, yva_clean, tag):
    lg = nn.value_and_grad(model, loss_fn)
    for s in range(step0, step0 + n):
        idx = mx.array(rng.integers(0, xtr.shape[0], size=32))
        loss, g = lg(model, xtr[idx], ytr[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        if s % log_every == 0:
            acc, eacc, f1 = evaluate(model, xva, yva_clean)
            print(f"[{tag}] step {s:3d}  lr {opt.learning_rate.item():.2e}  "
                  f"train loglik/tok {-loss.item():+.4f}  val viterbi acc {acc:.3f}  "
                  f"emission-argmax acc {eacc:.3f}  segment F1 {f1:.3f}", flush=True)
    return step0 + n


def main():
    mx.random.seed(0)
    t0 = time.time()
    xtr, ytr, _ = make_split(1200, label_noise=0.05)
    xva, _, yva = make_split(300, label_noise=0.0)
    major = np.bincount(np.array(yva).ravel(), minlength=NT).max() / yva.size
    print(f"tags={NT} frames/seq={T}  majority-tag baseline acc {major:.3f}")

    model = Tagger()
    model.freeze(keys=["trans", "start"])
    warm = optim.linear_schedule(0.0, 3e-3, 40)
    opt = optim.Adam(learning_rate=optim.join_schedules([warm, optim.cosine_decay(3e-3, 80)], [40]))
    print("stage A: emissions only, transition table held at 0")
    step = run_steps(model, opt, 1, 120, xtr, ytr, 60, xva, yva, "A")

    model.unfreeze()
    opt = optim.Adam(learning_rate=optim.join_schedules(
        [optim.linear_schedule(0.0, 1e-2, 20), optim.cosine_decay(1e-2, 160)], [20]))
    print("stage B: CRF transitions added, new optimizer, warmup from 0")
    step = run_steps(model, opt, step, 90, xtr, ytr, 30, xva, yva, "B")

    ck = tempfile.mkdtemp()
    model.save_weights(os.path.join(ck, "tagger.safetensors"))
    mx.savez(os.path.join(ck, "opt.npz"), **dict(tree_flatten(opt.state)))
    print(f"checkpoint written at step {step - 1}; reloading into a fresh tagger")

    model2 = Tagger()
    model2.load_weights(os.path.join(ck, "tagger.safetensors"))
    opt2 = optim.Adam(learning_rate=optim.join_schedules(
        [optim.linear_schedule(0.0, 1e-2, 20), optim.cosine_decay(1e-2, 160)], [20]))
    opt2.state = tree_unflatten(list(mx.load(os.path.join(ck, "opt.npz")).items()))
    acc_before, _, _ = evaluate(model, xva, yva)
    acc_after, _, _ = evaluate(model2, xva, yva)
    print(f"resume check: viterbi acc before {acc_before:.3f} after {acc_after:.3f}")
    step = run_steps(model2, opt2, step, 90, xtr, ytr, 30, xva, yva, "B")

    acc, eacc, f1 = evaluate(model2, xva, yva)
    print(f"final: val viterbi acc {acc:.3f} (emission-argmax {eacc:.3f}, majority {major:.3f}), "
          f"segment F1 {f1:.3f}, transitions |max| {mx.abs(model2.trans).max().item():.2f}, "
          f"{time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
