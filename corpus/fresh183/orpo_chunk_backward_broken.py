# ORPO-style preference LoRA on a tiny token model, with the backward pass
# split into sequence chunks (long-context friendly), gradients accumulated
# chunk by chunk, then one optimizer step.  Only the LoRA adapters are meant
# to train; the base weights are frozen and the adapters are saved alone.
import math, time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

V, D, R, T = 16, 48, 8, 32
mx.random.seed(7)


class LoRALinear(nn.Module):
    def __init__(self, din, dout, r=R, scale=2.0):
        super().__init__()
        self.linear = nn.Linear(din, dout)
        self.lora_a = mx.random.normal((din, r)) * (1.0 / math.sqrt(din))
        self.lora_b = mx.zeros((r, dout))
        self.scale = scale

    def __call__(self, x):
        return self.linear(x) + self.scale * ((x @ self.lora_a) @ self.lora_b)


class TinyLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(V, D)
        self.mix = LoRALinear(D, D)
        self.head = LoRALinear(D, V)

    def __call__(self, tok):
        h = self.embed(tok)
        h = h + nn.gelu(self.mix(h))
        return self.head(h)


def build_model():
    m = TinyLM()
    m.freeze()
    for layer in (m.mix, m.head):
        layer.unfreeze(keys=["lora_a", "lora_b"])
    return m


def make_pairs(n, key):
    # chosen continuation follows x -> (5x+3) mod V; rejected follows x -> (x+1) mod V
    # (15% of chosen tokens are replaced by noise, so the nll floor is not zero)
    k0, k1, k2 = mx.random.split(key, 3)
    starts = mx.random.randint(0, V, (n,), key=k0)
    flips = mx.random.bernoulli(0.15, (T, n), key=k1)
    noise = mx.random.randint(0, V, (T, n), key=k2)
    ch, rj = [starts], [starts]
    for t in range(1, T):
        ch.append(mx.where(flips[t], noise[t], (ch[-1] * 5 + 3) % V))
        rj.append((rj[-1] + 1) % V)
    return mx.stack(ch, 1), mx.stack(rj, 1)


def seq_logps(model, toks):
    logits = model(toks[:, :-1])
    lp = -nn.losses.cross_entropy(logits, toks[:, 1:], reduction="none")
    return lp.sum(-1)


def orpo_terms(c_avg, r_avg, nll, beta=0.5):
    c_avg, r_avg = mx.minimum(c_avg, -1e-3), mx.minimum(r_avg, -1e-3)
    log_odds = (c_avg - mx.log1p(-mx.exp(c_avg))) - (r_avg - mx.log1p(-mx.exp(r_avg)))
    ratio = -nn.log_sigmoid(log_odds)
    return nll + beta * ratio.mean(), ratio.mean(), (log_odds > 0).astype(mx.float32).mean()


model = build_model()
base_snapshot = {k: mx.array(v) for k, v in tree_flatten(model.parameters()) if "lora" not in k}
n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
print(f"trainable params: {n_train} (lora only), frozen: {sum(v.size for v in base_snapshot.values())}")

opt = optim.Adam(learning_rate=3e-3)
CHUNK = 8
steps = 120
val_c, val_r = make_pairs(64, mx.random.key(99))


def train_step(chosen, rejected):
    n_tok = chosen.shape[1] - 1
    # forward without graph to get the per-sequence average logps
    c_avg = seq_logps(model, chosen) / n_tok
    r_avg = seq_logps(model, rejected) / n_tok

    def head_loss(c, r):
        return orpo_terms(c, r, -c.mean())[0]

    loss, nll_ratio, acc = orpo_terms(c_avg, r_avg, -c_avg.mean())
    g_c, g_r = mx.grad(head_loss, argnums=[0, 1])(c_avg, r_avg)
    w_c, w_r = g_c / n_tok, g_r / n_tok

    accum = None
    for toks, w in ((chosen, w_c), (rejected, w_r)):
        for s in range(0, toks.shape[1] - 1, CHUNK):
            chunk = toks[:, s:s + CHUNK + 1]

            def local_loss_fn(model):
                return (seq_logps(model, chunk) * w).sum()

            grad = mx.grad(local_loss_fn)(model)
            accum = grad if accum is None else tree_map(lambda a, b: a + b, accum, grad)
            mx.eval(accum)
    opt.update(model, accum)
    mx.eval(model.parameters(), opt.state)
    return loss, nll_ratio, acc


t0 = time.time()
for step in range(1, steps + 1):
    c, r = make_pairs(32, mx.random.key(step))
    loss, ratio, acc = train_step(c, r)
    if step % 15 == 0 or step == 1:
        print(f"it {step:4d} | orpo {loss.item():.4f} | or-term {ratio.item():.4f} | pref-acc {acc.item():.2f}")

n_tok = T - 1
val_nll = (-seq_logps(model, val_c) / n_tok).mean().item()
print(f"in-memory val nll/token: {val_nll:.4f}")
drift = max(mx.abs(v - base_snapshot[k]).max().item()
            for k, v in tree_flatten(model.parameters()) if k in base_snapshot)
print(f"audit: max |base - snapshot| = {drift:.3e}")

# ship the adapters alone, reload them onto a clean copy of the base weights
adapters = dict(tree_flatten(model.trainable_parameters()))
fresh = build_model()
fresh.load_weights(list(base_snapshot.items()) + list(adapters.items()))
mx.eval(fresh.parameters())
re_nll = (-seq_logps(fresh, val_c) / n_tok).mean().item()
print(f"adapter-only reload val nll/token: {re_nll:.4f}  (chance {math.log(V):.4f})")
print(f"done in {time.time() - t0:.1f}s")
