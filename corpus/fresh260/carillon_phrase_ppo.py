"""Carillon practice: a tiny causal LM writes 6-bell phrases; PPO with a value head,
GAE and a per-token KL penalty to a frozen copy of the starting policy."""
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

BELLS = 8            # 0..7, 0 and 7 are the tonic bells
BOS = 8
VOCAB = 9
PHRASE = 6
ROLLOUT = 64
PPO_EPOCHS = 4
MINIBATCH = 16
UPDATES = 60
SAVE_AT = 30
WARMUP = 10
PEAK_LR = 1e-3
CLIP = 0.2
VF_COEF = 0.5
GAMMA, LAM = 1.0, 0.95
KL_INIT, KL_TARGET, KL_HORIZON = 0.05, 4.0, 400


class Ringer(nn.Module):
    def __init__(self, dims=32, heads=4):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, dims)
        self.pos = nn.Embedding(PHRASE + 2, dims)
        self.block = nn.TransformerEncoderLayer(dims, heads, 2 * dims, norm_first=True)
        self.norm = nn.LayerNorm(dims)
        self.policy = nn.Linear(dims, VOCAB)
        self.value = nn.Linear(dims, 1)

    def __call__(self, x):
        T = x.shape[1]
        h = self.tok(x) + self.pos(mx.arange(T))
        h = self.block(h, nn.MultiHeadAttention.create_additive_causal_mask(T))
        h = self.norm(h)
        logits = self.policy(h)
        # bells only: BOS is never a valid output
        logits = mx.where(mx.arange(VOCAB) == BOS, -1e9, logits)
        return logits, self.value(h).squeeze(-1)


def phrase_score(ph):
    """Change-ringing teacher's score for one phrase of bells (max 2.0)."""
    s = 1.0 if ph[-1] in (0, 7) else 0.0
    for a, b in zip(ph[:-1], ph[1:]):
        if a == b:
            s -= 0.3
        elif abs(a - b) <= 2:
            s += 0.2
    return s


def rollout(model, n):
    start = mx.random.randint(0, BELLS, (n, 1))
    x = mx.concatenate([mx.full((n, 1), BOS), start], axis=1)
    for _ in range(PHRASE - 1):
        logits, _ = model(x)
        nxt = mx.random.categorical(logits[:, -1, :])
        x = mx.concatenate([x, nxt[:, None]], axis=1)
    mx.eval(x)
    return x


def token_logps(model, seqs):
    logits, values = model(seqs[:, :-1])
    logp = nn.log_softmax(logits, axis=-1)
    lp = mx.take_along_axis(logp, seqs[:, 1:, None], axis=-1).squeeze(-1)
    ent = -(mx.exp(logp) * mx.where(logp < -1e8, 0.0, logp)).sum(-1)
    # positions 1.. predict bells 2..PHRASE (the first bell is the given start)
    return lp[:, 1:], values[:, 1:], ent[:, 1:]


def gae(rewards, values):
    T = rewards.shape[1]
    adv = [None] * T
    last = mx.zeros(rewards.shape[0])
    for t in reversed(range(T)):
        nv = values[:, t + 1] if t + 1 < T else mx.zeros(rewards.shape[0])
        delta = rewards[:, t] + GAMMA * nv - values[:, t]
        last = delta + GAMMA * LAM * last
        adv[t] = last
    adv = mx.stack(adv, axis=1)
    return adv, adv + values


def ppo_loss(model, seqs, old_lp, old_v, adv, ret):
    lp, v, ent = token_logps(model, seqs)
    ratio = mx.exp(lp - old_lp)
    pg = mx.maximum(-adv * ratio, -adv * mx.clip(ratio, 1 - CLIP, 1 + CLIP)).mean()
    v_clip = old_v + mx.clip(v - old_v, -CLIP, CLIP)
    vf = 0.5 * mx.maximum((v - ret) ** 2, (v_clip - ret) ** 2).mean()
    clipfrac = (mx.abs(ratio - 1) > CLIP).astype(mx.float32).mean()
    approx_kl = (0.5 * (lp - old_lp) ** 2).mean()
    return pg + VF_COEF * vf, (pg, vf, clipfrac, approx_kl, ent.mean())


def lr_at(u):
    return PEAK_LR * min(u, WARMUP) / WARMUP


def greedy_score(model, n=256):
    start = mx.arange(n)[:, None] % BELLS
    x = mx.concatenate([mx.full((n, 1), BOS), start], axis=1)
    for _ in range(PHRASE - 1):
        logits, _ = model(x)
        x = mx.concatenate([x, mx.argmax(logits[:, -1, :], -1)[:, None]], axis=1)
    return sum(phrase_score(p) for p in x[:, 1:].tolist()) / n


def make_session(seed):
    mx.random.seed(seed)
    model = Ringer()
    opt = optim.AdamW(learning_rate=0.0, weight_decay=0.0)
    mx.eval(model.parameters())
    return model, opt


def run_updates(model, ref, opt, first, last, kl_coef, t0):
    step = nn.value_and_grad(model, ppo_loss)
    for u in range(first, last + 1):
        opt.learning_rate = lr_at(u - 1)
        seqs = rollout(model, ROLLOUT)
        old_lp, old_v, _ = token_logps(model, seqs)
        ref_lp, _, _ = token_logps(ref, seqs)
        kl_tok = old_lp - ref_lp
        scores = mx.array([phrase_score(p) for p in seqs[:, 1:].tolist()])
        rewards = -kl_coef * kl_tok
        rewards = mx.concatenate([rewards[:, :-1], rewards[:, -1:] + scores[:, None]], axis=1)
        adv, ret = gae(rewards, old_v)
        adv = (adv - adv.mean()) / (mx.sqrt(adv.var()) + 1e-8)
        old_lp, old_v, adv, ret = map(mx.stop_gradient, (old_lp, old_v, adv, ret))
        mx.eval(old_lp, old_v, adv, ret)

        stats = []
        for _ in range(PPO_EPOCHS):
            perm = mx.random.permutation(ROLLOUT)
            for i in range(0, ROLLOUT, MINIBATCH):
                idx = perm[i:i + MINIBATCH]
                (_, aux), g = step(model, seqs[idx], old_lp[idx], old_v[idx], adv[idx], ret[idx])
                opt.update(model, g)
                mx.eval(model.parameters(), opt.state, aux)
                stats.append([float(a) for a in aux])
        pg, vf, cf, akl, ent = [sum(c) / len(stats) for c in zip(*stats)]
        mean_kl = float(kl_tok.sum(1).mean())
        nonscore = float((-kl_coef * kl_tok).sum(1).mean())
        # adaptive KL controller (Ziegler et al.)
        err = max(min(mean_kl / KL_TARGET - 1, 0.2), -0.2)
        kl_coef *= 1 + err * ROLLOUT / KL_HORIZON
        print(f"{u},{lr_at(u - 1):.2e},{float(scores.mean()):.3f},{nonscore:.4f},{mean_kl:.4f},"
              f"{kl_coef:.4f},{pg:.4f},{vf:.4f},{cf:.3f},{akl:.5f},{ent:.3f},{time.perf_counter() - t0:.1f}",
              flush=True)
    return kl_coef


def main():
    t0 = time.perf_counter()
    model, opt = make_session(7)
    ref, _ = make_session(7)          # same seed -> same starting weights
    ref.freeze()
    rand = sum(phrase_score(p) for p in mx.random.randint(0, BELLS, (2000, PHRASE)).tolist()) / 2000
    print(f"# references: random-bell phrase score {rand:.3f}, best possible 2.000, "
          f"starting greedy {greedy_score(model):.3f}")
    print("update,lr,score,nonscore_reward,kl,kl_coef,pg_loss,vf_loss,clipfrac,approx_kl,entropy,secs")
    kl_coef = run_updates(model, ref, opt, 1, SAVE_AT, KL_INIT, t0)

    ckpt = tempfile.mkdtemp()
    model.save_weights(os.path.join(ckpt, "ringer.safetensors"))
    mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"), dict(tree_flatten(opt.state)))
    saved_score = greedy_score(model)
    del model, opt
    print(f"# checkpoint at update {SAVE_AT}: greedy {saved_score:.3f}, kl_coef {kl_coef:.4f}; reloading")

    model, opt = make_session(123)
    model.load_weights(os.path.join(ckpt, "ringer.safetensors"))
    opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt.safetensors")).items()))
    print(f"# resumed: greedy {greedy_score(model):.3f} (saved {saved_score:.3f})")
    run_updates(model, ref, opt, SAVE_AT + 1, UPDATES, kl_coef, t0)
    print(f"# done: greedy phrase score {greedy_score(model):.3f} vs random {rand:.3f} (max 2.000)")


if __name__ == "__main__":
    main()
