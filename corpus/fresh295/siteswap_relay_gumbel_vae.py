"""Juggling practice logs: cyclic siteswap throw sequences (12 throws) from a
ball-juggling club, modelled by a categorical-latent VAE (Gumbel-softmax).

Two discrete latents: which pattern (8 classes) and which phase (4 classes).
KL to a uniform prior is warmed up from exactly 0; the Gumbel temperature is
annealed from 1.0 down to 0.5; the learning rate warms up from exactly 0 then
follows a cosine decay. The run is split in two sessions: session A writes a
checkpoint (weights + optimizer state + schedule counters), session B reloads
it into fresh objects and carries on.
"""

import json
import math
import os
import tempfile

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

PATTERNS = ["3", "441", "531", "423", "51", "4", "522", "7131"]
SEQ = 12
VOCAB = 10
K_PAT, K_PHASE = 8, 4
TOTAL_STEPS = 500
SESSION_A_STEPS = 250
KL_WARMUP = 150
BATCH = 64


def expand(p, shift):
    throws = [int(c) for c in p] * (SEQ // len(p))
    return throws[shift % len(p):] + throws[:shift % len(p)]


def make_logs(n, rng, slip=0.05):
    pat = rng.integers(0, len(PATTERNS), n)
    shift = rng.integers(0, 4, n)
    x = np.array([expand(PATTERNS[p], s) for p, s in zip(pat, shift)], dtype=np.int32)
    miss = rng.random(x.shape) < slip
    x = np.where(miss, rng.integers(0, VOCAB, x.shape), x)
    return x.astype(np.int32), pat


def jugglable(seq):
    n = len(seq)
    if sum(seq) % n:
        return False
    return len({(i + s) % n for i, s in enumerate(seq)}) == n


class SiteswapVAE(nn.Module):
    def __init__(self, emb=8, hidden=64):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, emb)
        self.enc = nn.Sequential(nn.Linear(SEQ * emb, hidden), nn.GELU(),
                                 nn.Linear(hidden, hidden), nn.GELU())
        self.to_pat = nn.Linear(hidden, K_PAT)
        self.to_phase = nn.Linear(hidden, K_PHASE)
        self.dec = nn.Sequential(nn.Linear(K_PAT + K_PHASE, hidden), nn.GELU(),
                                 nn.Linear(hidden, hidden), nn.GELU(),
                                 nn.Linear(hidden, SEQ * VOCAB))

    def encode(self, x):
        h = self.enc(self.embed(x).reshape(x.shape[0], -1))
        return self.to_pat(h), self.to_phase(h)

    def decode(self, c_pat, c_phase):
        out = self.dec(mx.concatenate([c_pat, c_phase], axis=-1))
        return out.reshape(-1, SEQ, VOCAB)


def gumbel_softmax(logits, tau):
    u = mx.random.uniform(low=1e-6, high=1.0 - 1e-6, shape=logits.shape)
    g = -mx.log(-mx.log(u))
    return mx.softmax((logits + g) / tau, axis=-1)


def kl_uniform(logits):
    logq = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    q = mx.exp(logq)
    return mx.sum(q * (logq + math.log(logits.shape[-1])), axis=-1)


def loss_fn(model, x, tau, beta):
    lp, lf = model.encode(x)
    logits = model.decode(gumbel_softmax(lp, tau), gumbel_softmax(lf, tau))
    recon = nn.losses.cross_entropy(logits, x, reduction="sum") / x.shape[0]
    kl = mx.mean(kl_uniform(lp) + kl_uniform(lf))
    return recon + beta * kl, (recon, kl)


def tau_at(step):
    return max(0.5, math.exp(-5e-3 * step))


def beta_at(step):
    return min(1.0, step / KL_WARMUP)


def lr_schedule():
    warm = optim.linear_schedule(0.0, 3e-3, 80)
    cos = optim.cosine_decay(3e-3, TOTAL_STEPS - 80, end=1e-4)
    return optim.join_schedules([warm, cos], [80])


def evaluate(model, x, pat):
    lp, lf = model.encode(x)
    hard_p = mx.argmax(lp, -1)
    hard_f = mx.argmax(lf, -1)
    logits = model.decode(mx.eye(K_PAT)[hard_p], mx.eye(K_PHASE)[hard_f])
    acc = mx.mean((mx.argmax(logits, -1) == x).astype(mx.float32)).item()
    # cluster purity of the pattern latent against the true pattern
    hp = np.array(hard_p)
    purity = sum(np.bincount(pat[hp == k], minlength=len(PATTERNS)).max()
                 for k in range(K_PAT) if (hp == k).any()) / len(pat)
    # prior samples: every (pattern, phase) code decoded greedily
    codes_p = mx.eye(K_PAT)[mx.array(np.repeat(np.arange(K_PAT), K_PHASE))]
    codes_f = mx.eye(K_PHASE)[mx.array(np.tile(np.arange(K_PHASE), K_PAT))]
    samples = np.array(mx.argmax(model.decode(codes_p, codes_f), -1))
    valid = np.mean([jugglable(list(s)) for s in samples])
    return acc, purity, valid


def train_steps(model, opt, data, rng, start, stop, log):
    step_fn = nn.value_and_grad(model, loss_fn)
    for step in range(start, stop):
        idx = rng.integers(0, len(data), BATCH)
        x = mx.array(data[idx])
        tau, beta = tau_at(step), beta_at(step)
        (loss, (recon, kl)), grads = step_fn(model, x, tau, beta)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        if (step + 1) % 50 == 0:
            log.append((step + 1, loss.item(), recon.item(), kl.item()))
            print(f"step {step + 1:5d}  tau {tau:.3f}  beta {beta:.2f}  "
                  f"lr {opt.learning_rate.item():.2e}  loss {loss.item():7.3f}  "
                  f"recon {recon.item():7.3f}  kl {kl.item():.3f}")


def main():
    rng = np.random.default_rng(11)
    train_x, _ = make_logs(8000, rng)
    val_x, val_pat = make_logs(1500, rng)
    mx.random.seed(3)

    # baselines: per-position unigram model fitted on train
    counts = np.stack([np.bincount(train_x[:, i], minlength=VOCAB) + 1 for i in range(SEQ)])
    probs = counts / counts.sum(1, keepdims=True)
    unigram_nll = -np.mean(np.log(probs[np.arange(SEQ), val_x]).sum(1))
    unigram_acc = np.mean(probs.argmax(1)[None, :] == val_x)
    print(f"baseline: unigram nll/seq {unigram_nll:.3f}  unigram acc {unigram_acc:.3f}  "
          f"chance purity {np.bincount(val_pat).max() / len(val_pat):.3f}")

    log = []
    with tempfile.TemporaryDirectory() as ckdir:
        # ---- session A ----
        model = SiteswapVAE()
        mx.eval(model.parameters())
        opt = optim.Adam(learning_rate=lr_schedule())
        train_steps(model, opt, train_x, rng, 0, SESSION_A_STEPS, log)
        acc, pur, val = evaluate(model, mx.array(val_x), val_pat)
        print(f"session A end: recon acc {acc:.3f}  purity {pur:.3f}  jugglable codes {val:.3f}")
        model.save_weights(os.path.join(ckdir, "model.safetensors"))
        mx.save_safetensors(os.path.join(ckdir, "opt.safetensors"), dict(tree_flatten(opt.state)))
        with open(os.path.join(ckdir, "meta.json"), "w") as f:
            json.dump({"step": SESSION_A_STEPS, "rng": rng.bit_generator.state}, f)
        del model, opt

        # ---- session B ----
        with open(os.path.join(ckdir, "meta.json")) as f:
            meta = json.load(f)
        rng = np.random.default_rng()
        rng.bit_generator.state = meta["rng"]
        model = SiteswapVAE()
        model.load_weights(os.path.join(ckdir, "model.safetensors"))
        opt = optim.Adam(learning_rate=lr_schedule())
        opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "opt.safetensors")).items()))
        print(f"session B: resumed at step {meta['step']} (optimizer step {opt.step.item()})")
        train_steps(model, opt, train_x, rng, meta["step"], TOTAL_STEPS, log)

    acc, pur, val = evaluate(model, mx.array(val_x), val_pat)
    lp, lf = model.encode(mx.array(val_x))
    logits = model.decode(mx.eye(K_PAT)[mx.argmax(lp, -1)], mx.eye(K_PHASE)[mx.argmax(lf, -1)])
    nll = nn.losses.cross_entropy(logits, mx.array(val_x), reduction="sum").item() / len(val_x)
    print(f"final: recon acc {acc:.3f} (unigram {unigram_acc:.3f})  "
          f"hard-code nll/seq {nll:.3f} (unigram {unigram_nll:.3f})  "
          f"pattern purity {pur:.3f}  jugglable codes {val:.3f}")


if __name__ == "__main__":
    main()
