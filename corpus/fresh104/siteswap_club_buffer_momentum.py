# Juggling club notebook: learn to tell whether a vanilla siteswap (3-5 throws,
# heights 0-7) is jugglable, and how many balls it needs.
#
# Every club night members log 600 new patterns; we keep the most recent 5000
# in a FIFO buffer (it fills up over the first nights, then stays at the cap)
# and train 80 momentum-SGD steps on batches drawn from it.  A fixed test set
# of 2000 patterns is scored after every night.
import math
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_map

MAX_LEN = 5
PAD = 8            # token ids 0..7 are throw heights, 8 pads short patterns
NIGHTS = 14
STEPS_PER_NIGHT = 80
BATCH = 128
PER_NIGHT = 600
CAP = 5000
LR, MOMENTUM = 0.05, 0.9
LN2 = math.log(2.0)


def is_valid(throws):
    n = len(throws)
    return len({(i + t) % n for i, t in enumerate(throws)}) == n


def random_valid(rng, n):
    while True:
        land = rng.permutation(n)
        base = [(int(land[i]) - i) % n for i in range(n)]
        throws = [b + n * int(rng.integers(0, 3)) for b in base]
        if max(throws) <= 7 and sum(throws) > 0:
            return throws


def random_invalid(rng, n):
    while True:
        throws = [int(t) for t in rng.integers(0, 8, size=n)]
        if not is_valid(throws):
            return throws


def log_patterns(rng, count):
    tok = np.full((count, MAX_LEN), PAD, dtype=np.int32)
    valid = np.zeros(count, dtype=np.float32)
    balls = np.zeros(count, dtype=np.float32)
    for r in range(count):
        n = int(rng.integers(3, MAX_LEN + 1))
        ok = rng.uniform() < 0.5
        throws = random_valid(rng, n) if ok else random_invalid(rng, n)
        tok[r, :n] = throws
        valid[r] = float(ok)
        balls[r] = sum(throws) / n if ok else 0.0
    return tok, valid, balls


class SiteswapNet(nn.Module):
    def __init__(self, dim=12, hidden=128):
        super().__init__()
        self.throw_emb = nn.Embedding(PAD + 1, dim)
        self.slot_emb = nn.Embedding(MAX_LEN, dim)
        self.body = nn.Sequential(
            nn.Linear(MAX_LEN * dim, hidden), nn.ReLU(),
            nn.Linear(hidden, hidden), nn.ReLU(),
        )
        self.valid_head = nn.Linear(hidden, 1)
        self.balls_head = nn.Linear(hidden, 1)

    def __call__(self, tok):
        h = self.throw_emb(tok) + self.slot_emb(mx.arange(MAX_LEN))
        h = self.body(h.reshape(tok.shape[0], -1))
        return self.valid_head(h).squeeze(-1), self.balls_head(h).squeeze(-1)


def losses(model, tok, valid, balls):
    logit, n_balls = model(tok)
    bce = nn.losses.binary_cross_entropy(logit, valid, with_logits=True, reduction="mean")
    sq = mx.where(valid > 0, (n_balls - balls) ** 2, 0.0)
    mse = sq.sum() / mx.maximum(valid.sum(), 1.0)
    return bce + 0.5 * mse, (bce, mse)


def score(model, tok, valid, balls):
    logit, n_balls = model(mx.array(tok))
    pred_valid = np.array(logit) > 0
    acc = (pred_valid == (valid > 0)).mean()
    mask = valid > 0
    ball_hit = (np.rint(np.array(n_balls))[mask] == balls[mask]).mean()
    return 100.0 * acc, 100.0 * ball_hit


class Buffer:
    def __init__(self, cap):
        self.cap = cap
        self.tok = np.zeros((0, MAX_LEN), np.int32)
        self.valid = np.zeros(0, np.float32)
        self.balls = np.zeros(0, np.float32)

    def add(self, tok, valid, balls):
        self.tok = np.concatenate([self.tok, tok])[-self.cap:]
        self.valid = np.concatenate([self.valid, valid])[-self.cap:]
        self.balls = np.concatenate([self.balls, balls])[-self.cap:]

    def __len__(self):
        return len(self.valid)

    def sample(self, rng, n):
        idx = rng.integers(0, len(self), size=n)
        return mx.array(self.tok[idx]), mx.array(self.valid[idx]), mx.array(self.balls[idx])


def main():
    rng = np.random.default_rng(2024)
    mx.random.seed(2024)
    test = log_patterns(rng, 2000)
    model = SiteswapNet()
    velocity = tree_map(mx.zeros_like, model.trainable_parameters())
    grad_fn = nn.value_and_grad(model, losses)
    buf = Buffer(CAP)

    print(f"siteswap club: {NIGHTS} nights x {STEPS_PER_NIGHT} steps, buffer cap {CAP}, "
          f"momentum SGD lr={LR} mu={MOMENTUM}")
    start = time.time()
    for night in range(1, NIGHTS + 1):
        buf.add(*log_patterns(rng, PER_NIGHT))
        bits_sum, mse_sum = 0.0, 0.0
        for s in range(1, STEPS_PER_NIGHT + 1):
            (_, (bce, mse)), grads = grad_fn(model, *buf.sample(rng, BATCH))
            velocity = tree_map(lambda v, g: MOMENTUM * v + g, velocity, grads)
            model.update(tree_map(lambda p, v: p - LR * v,
                                  model.trainable_parameters(), velocity))
            mx.eval(model.parameters(), velocity, bce, mse)
            bits_sum += bce.item() / LN2
            mse_sum += mse.item()
            filled = s * 24 // STEPS_PER_NIGHT
            sys.stdout.write(f"\r  night {night:2d} [{'=' * filled:<24}] {s:3d}/{STEPS_PER_NIGHT}")
            sys.stdout.flush()
        acc, ball_hit = score(model, *test)
        sys.stdout.write("\r" + " " * 48 + "\r")
        print(f"night {night:2d} | buffer {len(buf):4d}/{CAP} | valid-head {bits_sum / STEPS_PER_NIGHT:.3f} bits"
              f" | ball mse {mse_sum / STEPS_PER_NIGHT:.3f} | test jugglable acc {acc:5.1f}%"
              f" | ball count exact {ball_hit:5.1f}%")
    n_params = sum(v.size for _, v in tree_flatten(model.parameters()))
    print(f"finished in {time.time() - start:.1f}s, {n_params} parameters")


if __name__ == "__main__":
    main()
