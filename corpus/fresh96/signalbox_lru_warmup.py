"""Signal-box occupancy from a stream of track-circuit events.

A block section sees a sequence of events (enter, leave, signal changes, faulty
track-circuit blips). At the end of the shift the box wants to know how many
trains are in the section. We read the event stream with a small real-valued
diagonal linear recurrent unit (LRU-style: lambda = exp(-exp(nu))) over a FIXED
event code table (the codes come from the signalling manual and are frozen on
purpose), then classify the final state into occupancy 0..5.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

NOOP, ENTER, LEAVE, RED, GREEN, BLIP = range(6)
N_EVENTS = 6
MAX_OCC = 5
SEQ_LEN = 40


def make_shifts(n, rng):
    """Simulate n shifts of SEQ_LEN events; label = trains in section at the end."""
    seqs = np.zeros((n, SEQ_LEN), dtype=np.int32)
    occ = np.zeros(n, dtype=np.int32)
    for i in range(n):
        k = 0
        p_enter = rng.uniform(0.08, 0.3)
        for t in range(SEQ_LEN):
            u = rng.random()
            if u < p_enter and k < MAX_OCC:
                # now and then a faulty track circuit reports an entry as a blip
                ev = BLIP if rng.random() < 0.04 else ENTER
                k += 1
            elif u < p_enter + 0.18 and k > 0:
                ev = LEAVE
                k -= 1
            else:
                ev = rng.choice([NOOP, NOOP, NOOP, RED, GREEN, BLIP])
            seqs[i, t] = ev
        occ[i] = k
    return seqs, occ


class DiagonalLRU(nn.Module):
    def __init__(self, d_in, d_state, r_min=0.85, r_max=0.999):
        super().__init__()
        u = mx.random.uniform(shape=(d_state,))
        # lambda = exp(-exp(nu_log)) initialised uniformly in radius [r_min, r_max]
        lam = r_min + u * (r_max - r_min)
        self.nu_log = mx.log(-mx.log(lam))
        self.B = mx.random.normal((d_in, d_state)) / math.sqrt(d_in)
        self.D = mx.zeros((d_in,))

    def radii(self):
        return mx.exp(-mx.exp(self.nu_log))

    def __call__(self, x):
        # x: (batch, time, d_in) -> final state (batch, d_state) and skip of last input
        lam = self.radii()
        gamma = mx.sqrt(1.0 - lam * lam)
        u = (x @ self.B) * gamma
        h = mx.zeros((x.shape[0], lam.shape[0]))
        for t in range(x.shape[1]):
            h = lam * h + u[:, t]
        return h, x[:, -1] * self.D


class SignalBoxReader(nn.Module):
    def __init__(self, d_code=12, d_state=48):
        super().__init__()
        self.codes = nn.Embedding(N_EVENTS, d_code)
        self.lru = DiagonalLRU(d_code, d_state)
        self.head = nn.Sequential(nn.Linear(d_state + d_code, 64), nn.GELU(), nn.Linear(64, MAX_OCC + 1))

    def __call__(self, seq):
        x = self.codes(seq)
        h, skip = self.lru(x)
        return self.head(mx.concatenate([h, skip], axis=-1))


def loss_fn(model, seq, occ):
    return nn.losses.cross_entropy(model(seq), occ, reduction="mean")


def evaluate(model, seqs, occ, bs=500):
    correct, abs_err, ce = 0, 0.0, 0.0
    for s in range(0, len(occ), bs):
        logits = model(mx.array(seqs[s:s + bs]))
        y = mx.array(occ[s:s + bs])
        pred = mx.argmax(logits, axis=-1)
        ce += nn.losses.cross_entropy(logits, y, reduction="sum").item()
        correct += (pred == y).sum().item()
        abs_err += mx.abs(pred - y).sum().item()
    n = len(occ)
    return ce / n, 100.0 * correct / n, abs_err / n


def main():
    rng = np.random.default_rng(7)
    mx.random.seed(7)
    t0 = time.time()
    train_x, train_y = make_shifts(6000, rng)
    test_x, test_y = make_shifts(1500, rng)
    counts = np.bincount(train_y, minlength=MAX_OCC + 1)
    print(f"Simulated {len(train_y)} training shifts and {len(test_y)} test shifts "
          f"of {SEQ_LEN} events each in {time.time() - t0:.1f}s.")
    print("Occupancy at end of shift (train): " + ", ".join(f"{k} trains: {c}" for k, c in enumerate(counts)))
    print(f"Always guessing the commonest occupancy would be right "
          f"{100.0 * counts.max() / counts.sum():.1f}% of the time.")

    model = SignalBoxReader()
    # the event code table is taken from the signalling manual: keep it fixed
    model.codes.freeze()
    codes_before = np.array(model.codes.weight)
    mx.eval(model.parameters())

    n_train = sum(v.size for _, v in nn.utils.tree_flatten(model.trainable_parameters()))
    n_all = sum(v.size for _, v in nn.utils.tree_flatten(model.parameters()))
    print(f"The reader has {n_train} trainable weights; {n_all - n_train} more sit in the frozen code table.")

    warm, total = 120, 1200
    peak = 3e-3
    schedule = optim.join_schedules(
        [optim.linear_schedule(0.0, peak, warm), optim.cosine_decay(peak, total - warm, 1e-4)], [warm])
    opt = optim.AdamW(learning_rate=schedule, weight_decay=1e-4)
    step_fn = nn.value_and_grad(model, loss_fn)

    ce0, acc0, mae0 = evaluate(model, test_x, test_y)
    print(f"Before any training the reader scores {acc0:.1f}% on the test shifts "
          f"(cross-entropy {ce0:.3f}, off by {mae0:.2f} trains on average).")

    bs = 64
    perm = rng.permutation(len(train_y))
    cursor = 0
    window = []
    t0 = time.time()
    for step in range(1, total + 1):
        if cursor + bs > len(perm):
            perm = rng.permutation(len(train_y))
            cursor = 0
        idx = mx.array(perm[cursor:cursor + bs])
        cursor += bs
        seq = mx.array(train_x)[idx]
        occ = mx.array(train_y)[idx]
        loss, grads = step_fn(model, seq, occ)
        if step == 1:
            flat = nn.utils.tree_flatten(grads)
            zero = [k for k, g in flat if mx.abs(g).max().item() == 0.0]
            print(f"First step: {len(flat)} gradient leaves, {len(flat) - len(zero)} of them non-zero"
                  + (f" (zero: {zero})" if zero else "")
                  + f"; the learning rate is {opt.learning_rate.item():.1e} on this step (warm-up starts at 0).")
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        if step % 120 == 0:
            ce, acc, mae = evaluate(model, test_x, test_y)
            lam = model.lru.radii()
            half_life = (math.log(0.5) / mx.log(lam.max())).item()
            print(f"After {step} updates (lr now {opt.learning_rate.item():.2e}) the recent training "
                  f"cross-entropy is {sum(window) / len(window):.3f}; on the test shifts the reader is right "
                  f"{acc:.1f}% of the time, off by {mae:.2f} trains on average (cross-entropy {ce:.3f}); "
                  f"its longest memory has a half-life of {half_life:.0f} events. [{time.time() - t0:.1f}s]")
            window = []
            if step % 600 == 0:
                print(f"  (active MLX memory {mx.get_active_memory() / 2**20:.1f} MiB)")

    drift = float(np.abs(np.array(model.codes.weight) - codes_before).max())
    print(f"Finished in {time.time() - t0:.1f}s. The frozen code table moved by at most {drift:.1e}.")


if __name__ == "__main__":
    main()
