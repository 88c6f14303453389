# Reward model for a letterpress shop: which of two set lines a compositor prefers.
# Token sequences, pairwise (chosen, rejected) batches, Bradley-Terry loss with a small
# reward-centering term, Adafactor, warm-up from 0, checkpoint + resume into fresh objects.
import math
import os
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

mx.random.seed(7)
VOCAB, PAD, MAXLEN, DIM = 16, 0, 10, 24
CKPT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "galley_ckpt")

# hidden compositor taste
TOKEN_W = mx.random.normal((VOCAB,)) * 0.8
TOKEN_W = mx.where(mx.arange(VOCAB) == PAD, 0.0, TOKEN_W)


def quality(seq, lengths):
    real = (seq != PAD).astype(mx.float32)
    base = (TOKEN_W[seq] * real).sum(axis=1)
    repeats = ((seq[:, 1:] == seq[:, :-1]) & (seq[:, 1:] != PAD)).astype(mx.float32).sum(axis=1)
    return base - 0.7 * repeats + 0.4 * mx.sin(lengths.astype(mx.float32))


def sample_lines(n):
    lengths = mx.random.randint(4, MAXLEN + 1, (n,))
    toks = mx.random.randint(1, VOCAB, (n, MAXLEN))
    # make some lines repeat a letter on purpose
    dup = mx.random.uniform(shape=(n, MAXLEN)) < 0.2
    shifted = mx.concatenate([toks[:, :1], toks[:, :-1]], axis=1)
    toks = mx.where(dup, shifted, toks)
    pos = mx.arange(MAXLEN)[None, :]
    return mx.where(pos < lengths[:, None], toks, PAD), lengths


def make_pairs(n):
    a, la = sample_lines(n)
    b, lb = sample_lines(n)
    qa, qb = quality(a, la), quality(b, lb)
    a_wins = mx.random.uniform(shape=(n,)) < mx.sigmoid((qa - qb) / 0.5)
    pick = a_wins[:, None]
    chosen = mx.where(pick, a, b)
    rejected = mx.where(pick, b, a)
    lc = mx.where(a_wins, la, lb)
    lr = mx.where(a_wins, lb, la)
    q_c = mx.where(a_wins, qa, qb)
    q_r = mx.where(a_wins, qb, qa)
    return dict(chosen=chosen, rejected=rejected, lc=lc, lr=lr, q_c=q_c, q_r=q_r)


class LineScorer(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, DIM)
        self.pos = nn.Embedding(MAXLEN, DIM)
        self.attn = nn.MultiHeadAttention(DIM, 2)
        self.norm = nn.LayerNorm(DIM)
        self.mlp = nn.Sequential(nn.Linear(DIM, 48), nn.SiLU(), nn.Linear(48, DIM))
        self.head = nn.Linear(DIM, 1, bias=False)

    def __call__(self, seq):
        real = seq != PAD
        x = self.tok(seq) + self.pos(mx.arange(seq.shape[1]))
        bias = mx.where(real, 0.0, -1e9)[:, None, None, :]
        x = x + self.attn(x, x, x, mask=bias)
        x = self.norm(x + self.mlp(x))
        w = real.astype(x.dtype)[..., None]
        pooled = (x * w).sum(axis=1) / w.sum(axis=1)
        return self.head(pooled).squeeze(-1)


CENTER = 0.01


def pair_loss(model, chosen, rejected):
    r = model(mx.concatenate([chosen, rejected], axis=0))
    n = chosen.shape[0]
    r_c, r_r = r[:n], r[n:]
    bt = -nn.log_sigmoid(r_c - r_r).mean()
    return bt + CENTER * ((r_c + r_r) ** 2).mean(), (bt, r_c, r_r)


def evaluate(model, d):
    r_c, r_r = model(d["chosen"]), model(d["rejected"])
    acc = (r_c > r_r).astype(mx.float32).mean().item()
    bt = (-nn.log_sigmoid(r_c - r_r)).mean().item()
    return acc, bt, r_c.mean().item(), r_r.mean().item()


TOTAL, WARM, BATCH, PEAK, EVAL_EVERY = 500, 80, 64, 3e-3, 100
schedule = optim.join_schedules(
    [optim.linear_schedule(0.0, PEAK, WARM), optim.cosine_decay(PEAK, TOTAL - WARM, 1e-4)], [WARM])


def build():
    model = LineScorer()
    opt = optim.Adafactor(learning_rate=schedule, relative_step=False, scale_parameter=False)
    return model, opt


def save_ckpt(model, opt, step):
    os.makedirs(CKPT_DIR, exist_ok=True)
    model.save_weights(os.path.join(CKPT_DIR, "scorer.safetensors"))
    mx.save_safetensors(os.path.join(CKPT_DIR, "opt.safetensors"), dict(tree_flatten(opt.state)),
                        metadata={"step": str(step)})


def load_ckpt():
    model, opt = build()
    model.load_weights(os.path.join(CKPT_DIR, "scorer.safetensors"))
    state, meta = mx.load(os.path.join(CKPT_DIR, "opt.safetensors"), return_metadata=True)
    opt.state = tree_unflatten(list(state.items()))
    mx.eval(model.parameters(), opt.state)
    return model, opt, int(meta["step"])


def run_steps(model, opt, train, start, stop):
    step_fn = nn.value_and_grad(model, pair_loss)
    n = train["chosen"].shape[0]
    for step in range(start, stop):
        idx = mx.random.randint(0, n, (BATCH,))
        (loss, (bt, r_c, r_r)), grads = step_fn(model, train["chosen"][idx], train["rejected"][idx])
        lr_now = opt.learning_rate.item()
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if (step + 1) % EVAL_EVERY == 0 or step == start:
            acc, vbt, mc, mr = evaluate(model, val)
            print(f"step {step + 1:4d} lr {lr_now:.2e} train_bt {bt.item():.4f} "
                  f"margin {(r_c - r_r).mean().item():+.3f} | val acc {acc:.3f} val_bt {vbt:.4f} "
                  f"mean r_chosen {mc:+.3f} r_rejected {mr:+.3f}")


if __name__ == "__main__":
    t0 = time.time()
    train, val = make_pairs(6000), make_pairs(1500)
    # references on held-out pairs
    oracle_acc = (val["q_c"] > val["q_r"]).astype(mx.float32).mean().item()
    oracle_bt = (-nn.log_sigmoid((val["q_c"] - val["q_r"]) / 0.5)).mean().item()
    longer = (val["lc"] > val["lr"]).astype(mx.float32)
    ties = (val["lc"] == val["lr"]).astype(mx.float32)
    length_acc = (longer + 0.5 * ties).mean().item()
    print(f"references: coin-flip acc 0.500 bt {math.log(2):.4f} | longer-line acc {length_acc:.3f} "
          f"| true-taste acc {oracle_acc:.3f} bt {oracle_bt:.4f}")

    model, opt = build()
    mx.eval(model.parameters())
    half = TOTAL // 2
    run_steps(model, opt, train, 0, half)
    save_ckpt(model, opt, half)
    acc_before, _, _, _ = evaluate(model, val)
    del model, opt
    model, opt, resumed = load_ckpt()
    acc_after, _, _, _ = evaluate(model, val)
    print(f"checkpoint at step {resumed}: val acc {acc_before:.3f} before save, {acc_after:.3f} after reload")
    run_steps(model, opt, train, resumed, TOTAL)
    acc, vbt, _, _ = evaluate(model, val)
    print(f"final: val acc {acc:.3f} (true-taste {oracle_acc:.3f}, longer-line {length_acc:.3f}) "
          f"val_bt {vbt:.4f} (floor {oracle_bt:.4f}) in {time.time() - t0:.1f}s")
