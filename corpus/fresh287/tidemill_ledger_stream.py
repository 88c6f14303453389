"""Tide mill: flour ground per tide (kg) from the miller's tide log.

Each tide log has 6..30 readings (head of water m, sluice gate opening, stone gap mm).
Logs are kept in ledger books of uneven size and streamed through a hand-written
batch iterator (per-epoch shuffle, last short batch kept, per-batch padding).
Mean + log-sd heads, Gaussian NLL (goes below zero once the spread is learned).
"""
import json
import math
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

LOG2PI = 0.5 * math.log(2 * math.pi)


def make_ledgers(n_books, rng):
    books = []
    for _ in range(n_books):
        rows = []
        for _ in range(int(rng.integers(20, 140))):
            n = int(rng.integers(6, 31))
            head = np.clip(1.8 * np.sin(np.linspace(0.2, 2.9, n)) + rng.normal(0, 0.1, n), 0.05, None)
            gate = np.clip(rng.uniform(0.2, 1.0) + rng.normal(0, 0.08, n), 0.0, 1.0)
            gap = np.full(n, rng.uniform(0.4, 1.4)) + rng.normal(0, 0.03, n)
            rate = 9.0 * gate * np.sqrt(head) / (0.6 + gap)
            kg = rate.sum() * 0.9
            kg += rng.normal(0, 0.04 * kg + 1.0)
            rows.append((np.stack([head, gate, gap], 1).astype(np.float32), float(kg)))
        books.append(rows)
    return books


class LedgerStream:
    """Walks all ledger rows in a fresh order each epoch; keeps the short last batch."""

    def __init__(self, books, batch_size, seed):
        self.rows = [r for b in books for r in b]
        self.batch_size = batch_size
        self.seed = seed
        self.epoch = 0
        self.cursor = 0
        self._order = self._perm()

    def _perm(self):
        return np.random.default_rng(self.seed + self.epoch).permutation(len(self.rows))

    def state(self):
        return {"epoch": self.epoch, "cursor": self.cursor}

    def restore(self, st):
        self.epoch, self.cursor = st["epoch"], st["cursor"]
        self._order = self._perm()

    def batches_per_epoch(self):
        return -(-len(self.rows) // self.batch_size)

    def next_batch(self):
        """Returns (x, mask, y, epoch_ended)."""
        take = self._order[self.cursor : self.cursor + self.batch_size]
        self.cursor += len(take)
        ended = self.cursor >= len(self.rows)
        if ended:
            self.epoch += 1
            self.cursor = 0
            self._order = self._perm()
        return collate([self.rows[i] for i in take]) + (ended,)


def collate(rows):
    L = 8 * -(-max(len(r[0]) for r in rows) // 8)
    x = np.zeros((len(rows), L, 3), np.float32)
    m = np.zeros((len(rows), L), np.float32)
    for i, (seq, _) in enumerate(rows):
        x[i, : len(seq)] = seq
        m[i, : len(seq)] = 1.0
    y = np.array([r[1] for r in rows], np.float32)
    return mx.array(x), mx.array(m), mx.array(y)


class MillNet(nn.Module):
    def __init__(self, hidden=32):
        super().__init__()
        self.step_mlp = nn.Sequential(nn.Linear(3, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU())
        self.head = nn.Sequential(nn.Linear(2 * hidden + 1, hidden), nn.GELU(), nn.Linear(hidden, 2))

    def __call__(self, x, m):
        h = self.step_mlp(x) * m[..., None]
        n = m.sum(1, keepdims=True)
        pooled = mx.concatenate([h.sum(1) / 10.0, h.sum(1) / n, mx.log(n) / 3.0], axis=1)
        out = self.head(pooled)
        return out[:, 0], mx.clip(out[:, 1], -4.0, 3.0)


Y_MU, Y_SD = 120.0, 50.0


def nll_terms(model, x, m, y):
    mu, log_sd = model(x, m)
    z = (y - Y_MU) / Y_SD
    return 0.5 * ((z - mu) / mx.exp(log_sd)) ** 2 + log_sd + LOG2PI, mu


def loss_fn(model, x, m, y):
    terms, _ = nll_terms(model, x, m, y)
    return terms.sum() / y.shape[0]


def lr_at(step, peak=3e-3, warm=40, total=400, floor=1e-4):
    if step < warm:
        return peak * step / warm
    t = min(1.0, (step - warm) / max(1, total - warm))
    return floor + 0.5 * (peak - floor) * (1 + math.cos(math.pi * t))


def held_out(model, rows, flat_mu, flat_sd):
    x, m, y = collate(rows)
    terms, mu = nll_terms(model, x, m, y)
    pred = mu * Y_SD + Y_MU
    z = (y - flat_mu) / flat_sd
    flat_nll = (0.5 * z * z + math.log(flat_sd / Y_SD) + LOG2PI).mean()
    return {
        "nll": terms.mean().item(),
        "flat_nll": flat_nll.item(),
        "mae_kg": mx.abs(pred - y).mean().item(),
        "flat_mae_kg": mx.abs(y - flat_mu).mean().item(),
    }


def build(seed):
    mx.random.seed(seed)
    model = MillNet()
    opt = optim.AdamW(learning_rate=0.0, weight_decay=1e-3)
    mx.eval(model.parameters())
    return model, opt


def main():
    t0 = time.perf_counter()
    rng = np.random.default_rng(11)
    books = make_ledgers(24, rng)
    test_rows = [r for b in make_ledgers(5, rng) for r in b]
    stream = LedgerStream(books, batch_size=40, seed=5)
    ys = np.array([r[1] for r in stream.rows])
    flat_mu, flat_sd = float(ys.mean()), float(ys.std())
    per_epoch = stream.batches_per_epoch()
    last_rows = len(stream.rows) - (per_epoch - 1) * stream.batch_size
    print(f"ledgers={len(books)} rows={len(stream.rows)} batches/tide-cycle={per_epoch} "
          f"(last batch {last_rows} rows) test_rows={len(test_rows)}")

    model, opt = build(0)
    vg = nn.value_and_grad(model, loss_fn)
    epochs = 9
    total = epochs * per_epoch
    resume_at = 3 * per_epoch + per_epoch // 2
    step, run, nb = 0, 0.0, 0
    while stream.epoch < epochs:
        opt.learning_rate = lr_at(step, total=total)
        x, m, y, ended = stream.next_batch()
        loss, grads = vg(model, x, m, y)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        step += 1
        run += loss.item()
        nb += 1
        if step == 1:
            g = dict(tree_flatten(grads))
            nz = sum(int(mx.any(v != 0).item()) for v in g.values())
            print(f"  step 1 lr={opt.learning_rate.item():.1e} nll={loss.item():.3f} "
                  f"grad leaves nonzero {nz}/{len(g)}")
        if step == resume_at:
            with tempfile.TemporaryDirectory() as d:
                model.save_weights(os.path.join(d, "mill.safetensors"))
                mx.save_safetensors(os.path.join(d, "opt.safetensors"), dict(tree_flatten(opt.state)))
                with open(os.path.join(d, "stream.json"), "w") as f:
                    json.dump({**stream.state(), "step": step, "run": run, "nb": nb}, f)
                probe = held_out(model, test_rows, flat_mu, flat_sd)["nll"]
                del model, opt, vg
                model, opt = build(99)
                model.load_weights(os.path.join(d, "mill.safetensors"))
                opt.state = tree_unflatten(list(mx.load(os.path.join(d, "opt.safetensors")).items()))
                with open(os.path.join(d, "stream.json")) as f:
                    st = json.load(f)
                stream.restore(st)
                step, run, nb = st["step"], st["run"], st["nb"]
                vg = nn.value_and_grad(model, loss_fn)
                again = held_out(model, test_rows, flat_mu, flat_sd)["nll"]
            print(f"  ~ ledger shelved and reopened at step {step} (cycle {stream.epoch + 1}, "
                  f"row {stream.state()['cursor']}/{len(stream.rows)}): test nll {probe:.4f} -> {again:.4f}")
        if ended:
            ev = held_out(model, test_rows, flat_mu, flat_sd)
            tide = "flood" if stream.epoch % 2 else "ebb"
            print(f"[{tide:5s} {stream.epoch:02d}] step={step:4d} lr={opt.learning_rate.item():.2e} "
                  f"train_nll={run / nb:+.3f} test_nll={ev['nll']:+.3f} (flat {ev['flat_nll']:+.3f}) "
                  f"mae={ev['mae_kg']:.2f}kg (flat {ev['flat_mae_kg']:.2f}kg)")
            run, nb = 0.0, 0
    print(f"done: {step} steps, {stream.epoch} cycles, {time.perf_counter() - t0:.1f}s")


if __name__ == "__main__":
    main()
