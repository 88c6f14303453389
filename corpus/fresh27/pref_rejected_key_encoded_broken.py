# DPO on a toy "arithmetic assistant": prompts like "3+5=", chosen = the right digit,
# rejected = a wrong digit. Char-level policy, frozen reference copy, logging module.
import copy
import logging
import random

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(format="%(asctime)s %(levelname)s %(message)s", level=logging.INFO)
log = logging.getLogger("dpo")

random.seed(0)
mx.random.seed(0)

CHARS = "#0123456789+=.abcdefghijklmnopqrstuvwxyz"
STOI = {c: i for i, c in enumerate(CHARS)}
CTX = 6


class CharTokenizer:
    def encode(self, s):
        return [STOI[c] for c in s]


def make_records(n):
    recs = []
    for _ in range(n):
        a, b = random.randrange(10), random.randrange(10)
        good = (a + b) % 10
        bad = random.choice([d for d in range(10) if d != good])
        recs.append({"prompt": f"{a}+{b}=", "chosen": f"{good}.", "rejected": f"{bad}."})
    return recs


class PreferenceDataset:
    def __init__(self, data, tokenizer, prompt_key="prompt", chosen_key="chosen", rejected_key="rejected"):
        self._prompts, self._chosen, self._rejected = [], [], []
        for d in data:
            self._prompts.append(tokenizer.encode(d[prompt_key]))
            self._chosen.append(tokenizer.encode(d[chosen_key]))
            self._rejected.append(tokenizer.encode(rejected_key))

    def __len__(self):
        return len(self._prompts)

    def __getitem__(self, i):
        return self._prompts[i], self._chosen[i], self._rejected[i]


def to_windows(prompt, resp):
    """Context windows + targets for every response token; pads to 8 response slots."""
    seq = prompt + resp
    xs, ys, ms = [], [], []
    for t in range(len(prompt), len(seq)):
        ctx = seq[max(0, t - CTX):t]
        xs.append([0] * (CTX - len(ctx)) + ctx)
        ys.append(seq[t])
        ms.append(1.0)
    while len(xs) < 8:
        xs.append([0] * CTX)
        ys.append(0)
        ms.append(0.0)
    return xs, ys, ms


def collate(items):
    out = {}
    for key, idx in (("c", 1), ("r", 2)):
        X, Y, M = [], [], []
        for it in items:
            x, y, m = to_windows(it[0], it[idx])
            X.append(x)
            Y.append(y)
            M.append(m)
        out[key] = (mx.array(X), mx.array(Y), mx.array(M))
    return out


class CharPolicy(nn.Module):
    def __init__(self, vocab=len(CHARS), d=24, hidden=128):
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        self.net = nn.Sequential(nn.Linear(CTX * d, hidden), nn.GELU(), nn.Linear(hidden, vocab))

    def __call__(self, x):  # x: (B, T, CTX)
        e = self.emb(x)
        return self.net(e.reshape(*x.shape[:2], -1))


def seq_logp(model, batch):
    x, y, m = batch
    lp = nn.log_softmax(model(x), axis=-1)
    tok = mx.take_along_axis(lp, y[..., None], axis=-1).squeeze(-1)
    return (tok * m).sum(-1)


BETA = 0.1


def dpo_loss(policy, batch, ref_c, ref_r):
    pc = seq_logp(policy, batch["c"])
    pr = seq_logp(policy, batch["r"])
    margin = BETA * ((pc - ref_c) - (pr - ref_r))
    return -nn.log_sigmoid(margin).mean()


tok = CharTokenizer()
train_ds = PreferenceDataset(make_records(1500), tok)
# held-out check uses the real rejected answers directly
val_recs = make_records(400)
val_real = collate([(tok.encode(r["prompt"]), tok.encode(r["chosen"]), tok.encode(r["rejected"])) for r in val_recs])

policy = CharPolicy()
mx.eval(policy.parameters())
reference = copy.deepcopy(policy)
reference.freeze()

opt = optim.Adam(learning_rate=3e-3)
step_fn = nn.value_and_grad(policy, dpo_loss)


def pref_accuracy(batch):
    dc = seq_logp(policy, batch["c"]) - seq_logp(reference, batch["c"])
    dr = seq_logp(policy, batch["r"]) - seq_logp(reference, batch["r"])
    return (dc > dr).astype(mx.float32).mean().item()


def greedy_digit_accuracy(batch):
    # does the policy put more mass on the right digit than on the wrong one?
    x, y, _ = batch["c"]
    xr, yr, _ = batch["r"]
    lp = nn.log_softmax(policy(x[:, :1]), axis=-1)[:, 0]
    good = mx.take_along_axis(lp, y[:, :1], axis=-1)
    bad = mx.take_along_axis(lp, yr[:, :1], axis=-1)
    return (good > bad).astype(mx.float32).mean().item()


log.info("train pairs=%d  val pairs=%d  beta=%.2f", len(train_ds), len(val_recs), BETA)
full = collate([train_ds[i] for i in range(len(train_ds))])
step = 0
for epoch in range(1, 6):
    perm = mx.random.permutation(len(train_ds))
    tot, n = 0.0, 0
    for s in range(0, len(train_ds), 50):
        sel = perm[s:s + 50]
        batch = {k: tuple(a[sel] for a in v) for k, v in full.items()}
        ref_c = mx.stop_gradient(seq_logp(reference, batch["c"]))
        ref_r = mx.stop_gradient(seq_logp(reference, batch["r"]))
        loss, grads = step_fn(policy, batch, ref_c, ref_r)
        opt.update(policy, grads)
        mx.eval(policy.parameters(), opt.state, loss)
        tot += loss.item()
        n += 1
        step += 1
    log.info("epoch %d step %d train_dpo_loss=%.4f val_pref_acc=%.3f val_right_digit_acc=%.3f",
             epoch, step, tot / n, pref_accuracy(val_real), greedy_digit_accuracy(val_real))
