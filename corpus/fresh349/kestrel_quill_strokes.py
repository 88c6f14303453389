"""Unconditional sketch-RNN style stroke decoder: GRU + bivariate Gaussian mixture
over pen offsets and a 3-way pen-state head, trained with teacher forcing on
synthetic loop doodles. Halfway through, the run is checkpointed, torn down and
resumed from disk."""
import math
import tempfile
import time
from pathlib import Path

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

T, K, HID = 32, 5, 64
rng = np.random.default_rng(11)


def doodle():
    """A few connected loops, ending with an end-of-sketch token, padded to T."""
    pts, pen = [], []
    n_loops = rng.integers(1, 4)
    for _ in range(n_loops):
        r = rng.uniform(0.5, 1.5)
        n = rng.integers(6, 10)
        ph = rng.uniform(0, 2 * math.pi)
        ang = ph + np.linspace(0, 2 * math.pi, n + 1)
        xy = np.stack([r * np.cos(ang), 0.7 * r * np.sin(ang)], 1)
        d = np.diff(xy, axis=0) + rng.normal(0, 0.03, (n, 2))
        pts.extend(d)
        pen.extend([0] * (n - 1) + [1])
        pts.append(rng.normal(0, 0.6, 2) + [2.2, 0.0])
        pen.append(0)
    pts, pen = pts[: T - 1], pen[: T - 1]
    L = len(pts)
    seq = np.zeros((T, 5), np.float32)
    seq[:L, :2] = pts
    seq[np.arange(L), 2 + np.array(pen)] = 1
    seq[L:, 4] = 1
    return seq, L


def dataset(n):
    data = [doodle() for _ in range(n)]
    return np.stack([d[0] for d in data]), np.array([d[1] for d in data])


train, train_len = dataset(768)
val, val_len = dataset(192)
scale = train[:, :, :2][train[:, :, 4] == 0].std()
train[:, :, :2] /= scale
val[:, :, :2] /= scale
start = np.zeros((1, 1, 5), np.float32)
start[0, 0, 2] = 1


class StrokeDecoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.GRU(5, HID)
        self.out = nn.Linear(HID, 6 * K + 3)

    def __call__(self, x):
        return self.out(self.rnn(x))


def nll(model, x_in, target, mask):
    y = model(x_in)
    logit_pi, mx_, my_, lsx, lsy, rho_r = [y[..., i * K:(i + 1) * K] for i in range(6)]
    pen_logits = y[..., 6 * K:]
    rho = 0.95 * mx.tanh(rho_r)
    dx = (target[..., :1] - mx_) / mx.exp(lsx)
    dy = (target[..., 1:2] - my_) / mx.exp(lsy)
    z = dx**2 + dy**2 - 2 * rho * dx * dy
    one_m = 1 - rho**2
    log_n = -z / (2 * one_m) - math.log(2 * math.pi) - lsx - lsy - 0.5 * mx.log(one_m)
    log_mix = mx.logsumexp(nn.log_softmax(logit_pi, axis=-1) + log_n, axis=-1)
    ls = -(log_mix * mask).sum() / (mask.sum())
    lp = nn.losses.cross_entropy(pen_logits, target[..., 2:].argmax(-1), reduction="mean")
    return ls + lp, (ls, lp)


def shift_in(batch):
    b = batch.shape[0]
    return mx.concatenate([mx.array(np.repeat(start, b, 0)), batch[:, :-1]], axis=1)


def make_state():
    model = StrokeDecoder()
    warm = optim.linear_schedule(0.0, 2e-3, 24)
    decay = optim.exponential_decay(2e-3, 0.995)
    opt = optim.Adam(learning_rate=optim.join_schedules([warm, decay], [24]))
    return model, opt


def evaluate(model, data, lens):
    x = mx.array(data)
    mask = mx.array((np.arange(T)[None, :] < lens[:, None]).astype(np.float32))
    total, (ls, lp) = nll(model, shift_in(x), x, mask)
    return total.item(), ls.item(), lp.item()


def run_epochs(model, opt, first, last, step):
    loss_and_grad = nn.value_and_grad(model, lambda m, a, b, c: nll(m, a, b, c))
    bs = 64
    for epoch in range(first, last + 1):
        t0 = time.time()
        perm = rng.permutation(len(train))
        ls_acc, lp_acc, nb = 0.0, 0.0, 0
        for i in range(0, len(train) - bs + 1, bs):
            idx = perm[i:i + bs]
            x = mx.array(train[idx])
            mask = mx.array((np.arange(T)[None, :] < train_len[idx][:, None]).astype(np.float32))
            (loss, (ls, lp)), grads = loss_and_grad(model, shift_in(x), x, mask)
            grads, _ = optim.clip_grad_norm(grads, 1.0)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            ls_acc += ls.item(); lp_acc += lp.item(); nb += 1
            step += 1
        v_tot, v_ls, v_lp = evaluate(model, val, val_len)
        print(f"Epoch {epoch:2d}/12 - {nb}/{nb} - {time.time() - t0:.1f}s - step {step} - "
              f"lr: {opt.learning_rate.item():.2e} - Ls: {ls_acc / nb:+.4f} - Lp: {lp_acc / nb:.4f} - "
              f"val_loss: {v_tot:+.4f} (Ls {v_ls:+.4f}, Lp {v_lp:.4f})")
    return step


def pen_prior_xent(data):
    """Cross-entropy (nats) of predicting the pen state from class frequencies alone."""
    freq = data[..., 2:].reshape(-1, 3).mean(0)
    return float(-(freq * np.log(freq)).sum())


def main():
    mx.random.seed(3)
    t0 = time.time()
    true_loops = ((train[:, :, 3] == 1).sum(1)).mean()
    print(f"train {train.shape}, val {val.shape}, offset scale {scale:.3f}, "
          f"mean pen-lifts per doodle {true_loops:.2f}")
    model, opt = make_state()
    v_tot, v_ls, v_lp = evaluate(model, val, val_len)
    print(f"Epoch  0/12 - untrained - val_loss: {v_tot:+.4f} (Ls {v_ls:+.4f}, Lp {v_lp:.4f})")
    step = run_epochs(model, opt, 1, 6, 0)

    with tempfile.TemporaryDirectory() as tmp:
        ckpt = Path(tmp)
        model.save_weights(str(ckpt / "decoder.safetensors"))
        mx.save_safetensors(str(ckpt / "optimizer.safetensors"), dict(tree_flatten(opt.state)))
        print(f"checkpoint written at step {step}; restarting process state from disk")
        del model, opt
        model, opt = make_state()
        model.load_weights(str(ckpt / "decoder.safetensors"))
        opt.state = tree_unflatten(list(mx.load(str(ckpt / "optimizer.safetensors")).items()))
        mx.eval(model.parameters(), opt.state)
    v_tot, v_ls, v_lp = evaluate(model, val, val_len)
    print(f"resumed at optimizer step {int(opt.state['step'].item())} - "
          f"val_loss: {v_tot:+.4f} (Ls {v_ls:+.4f}, Lp {v_lp:.4f})")
    step = run_epochs(model, opt, 7, 12, step)

    v_tot, v_ls, v_lp = evaluate(model, val, val_len)
    print(f"val pen-state xent {v_lp:.4f} nats (class-prior baseline {pen_prior_xent(val):.4f})")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
