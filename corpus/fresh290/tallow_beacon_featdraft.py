# Feature-level draft head for speculative decoding (EAGLE-like) on a tiny
# frozen causal transformer. Synthetic second-order token streams.
import math, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from functools import partial
from mlx.utils import tree_map, tree_flatten

V, L, D = 20, 16, 32
rng = np.random.default_rng(7)
mx.random.seed(7)

# second-order generator: p(x_t | x_{t-2}, x_{t-1}), sharpened random tables
logits_tab = rng.normal(size=(V, V, V)) * 2.2
P = np.exp(logits_tab - logits_tab.max(-1, keepdims=True))
P /= P.sum(-1, keepdims=True)
H_floor = float(-(P * np.log(P)).sum(-1).mean())

def sample_streams(n):
    x = np.zeros((n, L), dtype=np.int32)
    x[:, :2] = rng.integers(0, V, size=(n, 2))
    cum = P.cumsum(-1)
    for t in range(2, L):
        c = cum[x[:, t - 2], x[:, t - 1]]
        u = rng.random((n, 1))
        x[:, t] = np.minimum((u > c).sum(-1), V - 1)
    return x

class Target(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, D)
        self.pos = nn.Embedding(L, D)
        self.n1 = nn.RMSNorm(D)
        self.att = nn.MultiHeadAttention(D, 4)
        self.n2 = nn.RMSNorm(D)
        self.ff = nn.Sequential(nn.Linear(D, 4 * D), nn.GELU(), nn.Linear(4 * D, D))
        self.nf = nn.RMSNorm(D)
        self.head = nn.Linear(D, V)

    def hidden(self, x):
        T = x.shape[1]
        h = self.emb(x) + self.pos(mx.arange(T))
        m = nn.MultiHeadAttention.create_additive_causal_mask(T)
        a = self.n1(h)
        h = h + self.att(a, a, a, mask=m)
        h = h + self.ff(self.n2(h))
        return self.nf(h)

    def __call__(self, x):
        return self.head(self.hidden(x))

class FeatDraft(nn.Module):
    # predicts the target's next hidden feature from (feature_t, embedding of token t+1)
    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(V, D)
        self.inp = nn.Linear(2 * D, 64)
        self.mid = nn.Linear(64, 64)
        self.out = nn.Linear(64, D)
        self.log_sigma = mx.zeros((1,))

    def __call__(self, f, nxt):
        z = nn.silu(self.inp(mx.concatenate([f, self.tok(nxt)], axis=-1)))
        z = z + nn.silu(self.mid(z))
        return f + self.out(z)

# ---------------- phase 1: train the target ----------------
t0 = time.time()
target = Target()
topt = optim.Adam(learning_rate=3e-3)
train_x = mx.array(sample_streams(4000))
val_x = mx.array(sample_streams(600))

def tloss(m, x):
    lg = m(x[:, :-1])
    return nn.losses.cross_entropy(lg[:, 1:], x[:, 2:]).mean()

tgrad = nn.value_and_grad(target, tloss)

@partial(mx.compile, inputs=[target.state, topt.state], outputs=[target.state, topt.state])
def tstep(x):
    l, g = tgrad(target, x)
    topt.update(target, g)
    return l
print(f"phase=target vocab={V} seq={L} generator_entropy_floor={H_floor:.3f}")
for it in range(1, 151):
    idx = mx.array(rng.integers(0, train_x.shape[0], size=256))
    l = tstep(train_x[idx])
    mx.eval(target.parameters(), topt.state)
    if it % 50 == 0:
        vl = tloss(target, val_x).item()
        print(f"phase=target step={it} train_ce={l.item():.3f} val_ce={vl:.3f} floor={H_floor:.3f}")
target.freeze()

# cache frozen target features / next-token distributions
def feats(x):
    h = target.hidden(x)
    p = mx.softmax(target.head(h), axis=-1)
    return mx.stop_gradient(h), mx.stop_gradient(p)

tr_h, tr_p = feats(train_x)
va_h, va_p = feats(val_x)
mx.eval(tr_h, tr_p, va_h, va_p)

# ---------------- phase 2: train the draft head ----------------
draft = FeatDraft()
n_params = sum(v.size for _, v in tree_flatten(draft.trainable_parameters()))
n_frozen = sum(v.size for _, v in tree_flatten(target.trainable_parameters()))
print(f"phase=draft trainable={n_params} target_trainable={n_frozen}")

W_FEAT = 0.2
def dloss(m, h, x, p):
    # positions: from feature at t and token t+1, predict feature at t+1
    f_in, nxt, f_tgt, p_tgt = h[:, :-1], x[:, 1:], h[:, 1:], p[:, 1:]
    f_hat = m(f_in, nxt)
    s2 = mx.exp(2 * m.log_sigma)
    nll = 0.5 * ((f_hat - f_tgt) ** 2 / s2 + 2 * m.log_sigma + math.log(2 * math.pi)).mean()
    logq = nn.log_softmax(target.head(f_hat), axis=-1)
    soft_ce = -(p_tgt * logq).sum(-1).mean()
    return W_FEAT * nll + soft_ce, (nll, soft_ce)

dgrad = nn.value_and_grad(draft, dloss)
warm = optim.linear_schedule(0.0, 2e-3, 30)
decay = optim.cosine_decay(2e-3, 120, 5e-5)
dopt = optim.Lion(learning_rate=optim.join_schedules([warm, decay], [30]), weight_decay=0.01)

def alpha_of(q, p):
    return mx.minimum(q, p).sum(-1).mean()

def draft_alpha(h, x, p):
    f_hat = draft(h[:, :-1], x[:, 1:])
    q = mx.softmax(target.head(f_hat), axis=-1)
    return alpha_of(q, p[:, 1:]).item()

uni = mx.mean(tr_p.reshape(-1, V), axis=0)
alpha_uni = alpha_of(mx.broadcast_to(uni, va_p[:, 1:].shape), va_p[:, 1:]).item()
ent_tgt = float(-(va_p[:, 1:] * mx.log(va_p[:, 1:] + 1e-12)).sum(-1).mean().item())
print(f"phase=draft baseline unigram_alpha={alpha_uni:.3f} target_self_alpha=1.000 soft_ce_floor={ent_tgt:.3f}")

ACC = 2

@partial(mx.compile, inputs=[draft.state, dopt.state], outputs=[draft.state, dopt.state])
def dstep(hs, xs, ps):
    # gradient accumulation over ACC micro-batches, one optimizer update
    acc_g, tot = None, 0.0
    for i in range(ACC):
        (l, (nll, sce)), g = dgrad(draft, hs[i], xs[i], ps[i])
        acc_g = g if acc_g is None else tree_map(lambda a, b: a + b, acc_g, g)
        tot = tot + l
    dopt.update(draft, tree_map(lambda a: a / ACC, acc_g))
    return tot, nll, sce

updates = 150
for u in range(1, updates + 1):
    idx = mx.array(rng.integers(0, train_x.shape[0], size=(ACC, 32)))
    tot, nll, sce = dstep(tr_h[idx], train_x[idx], tr_p[idx])
    mx.eval(tot, draft.state, dopt.state)
    if u == 1 or u % 30 == 0:
        a = draft_alpha(va_h, val_x, va_p)
        k = 4
        exp_len = (1 - a ** (k + 1)) / (1 - a) if a < 1 else k + 1
        print(f"phase=draft upd={u} lr={dopt.learning_rate.item():.2e} loss={(tot/ACC).item():+.3f} "
              f"feat_nll={nll.item():+.3f} soft_ce={sce.item():.3f} sigma={math.exp(draft.log_sigma.item()):.3f} "
              f"alpha={a:.3f} unigram_alpha={alpha_uni:.3f} exp_tokens_per_verify@k4={exp_len:.2f}")

# ---------------- phase 3: greedy draft-and-verify ----------------
def greedy_plain(prefix, n):
    seq = list(prefix)
    calls = 0
    while len(seq) < len(prefix) + n:
        lg = target(mx.array([seq]))
        calls += 1
        seq.append(int(mx.argmax(lg[0, -1]).item()))
    return seq, calls

def greedy_spec(prefix, n, k=4):
    end = len(prefix) + n
    seq = list(prefix)
    h = target.hidden(mx.array([seq]))
    calls = 1
    nxt = int(mx.argmax(target.head(h[0, -1])).item())
    f = h[:, -1]
    while True:
        seq.append(nxt)
        if len(seq) >= end:
            break
        props, cur, g = [], nxt, f
        for _ in range(min(k, end - len(seq))):
            g = draft(g, mx.array([cur]))
            cur = int(mx.argmax(target.head(g)[0]).item())
            props.append(cur)
        h = target.hidden(mx.array([seq + props]))
        calls += 1
        top = np.array(mx.argmax(target.head(h[0]), axis=-1))
        pos = len(seq) - 1
        for tok in props:
            if int(top[pos]) != tok:
                break
            seq.append(tok)
            pos += 1
        nxt = int(top[pos])
        f = h[:, pos]
        if len(seq) >= end:
            break
    return seq[:end], calls

tot_plain = tot_spec = 0
same = 0
N = 4
vx = np.array(val_x)
for i in range(N):
    pre = [int(t) for t in vx[i, :2]]
    a, ca = greedy_plain(pre, L - 2)
    b, cb = greedy_spec(pre, L - 2)
    tot_plain += ca
    tot_spec += cb
    same += int(a == b)
print(f"phase=verify prompts={N} identical_outputs={same}/{N} target_calls_plain={tot_plain} "
      f"target_calls_spec={tot_spec} tokens_per_call_plain={(N*(L-2))/tot_plain:.2f} "
      f"tokens_per_call_spec={(N*(L-2))/tot_spec:.2f}")
print(f"done seconds={time.time()-t0:.1f}")
