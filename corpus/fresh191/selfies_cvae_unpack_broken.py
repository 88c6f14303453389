# Tiny conditional VAE over SELFIES-like token strings with a property head.
import math, random, time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

random.seed(3); mx.random.seed(3)
PAD, BOS, V, T = 0, 1, 12, 14
ALPH = list(range(2, V))

def make_mol():
    n = random.randint(6, T - 2)
    toks = [BOS] + [random.choice(ALPH[:5]) if i % 2 == 0 else random.choice(ALPH[5:]) for i in range(n)]
    toks += [PAD] * (T - len(toks))
    heavy = sum(1 for t in toks if t >= 7)
    logp = 0.3 * n - 0.5 * heavy
    tpsa = 8.0 * heavy + 2.0
    return toks, (logp, tpsa)

data = [make_mol() for _ in range(512)]
X = mx.array([d[0] for d in data], dtype=mx.int32)
P = mx.array([d[1] for d in data], dtype=mx.float32)

def latent_diversity_loss(z):
    b = z.shape[0]
    zn = z / mx.sqrt(mx.sum(z * z, axis=1, keepdims=True) + 1e-8)
    sim = zn @ zn.T
    mask = 1.0 - mx.eye(b)
    return mx.sum(sim * mask) / (b * (b - 1))

def compute_loss(x, logits, mu, logvar, beta=1.0, diversity_weight=0.01):
    """Returns total_loss, recon_loss, kl_loss, diversity_loss"""
    target = x[:, 1:]
    logp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    nll = -mx.take_along_axis(logp, mx.expand_dims(target, -1), axis=-1).squeeze(-1)
    mask = (target != PAD).astype(mx.float32)
    recon_loss = mx.sum(nll * mask) / mx.sum(mask)
    kl_loss = -0.5 * mx.mean(1 + logvar - mx.square(mu) - mx.exp(logvar))
    diversity_loss = latent_diversity_loss(mu)
    total_loss = recon_loss + beta * kl_loss + diversity_weight * diversity_loss
    return total_loss, recon_loss, kl_loss, diversity_loss

class CVAE(nn.Module):
    def __init__(self, d=48, L=8):
        super().__init__()
        self.emb = nn.Embedding(V, d)
        self.enc = nn.Sequential(nn.Linear(d * T, 128), nn.GELU())
        self.mu = nn.Linear(128, L)
        self.lv = nn.Linear(128, L)
        self.cond = nn.Linear(2, L)
        self.z2h = nn.Linear(2 * L, d)
        self.dec = nn.Sequential(nn.Linear(d, 96), nn.GELU(), nn.Linear(96, V))
        self.prop = nn.Linear(L, 2)
        self.pos = mx.random.normal((T - 1, d)) * 0.1
        self.pm = mx.array([0.0, 0.0]); self.ps = mx.array([1.0, 1.0])

    def __call__(self, x, props, noise_std=0.05):
        h = self.enc(self.emb(x).reshape(x.shape[0], -1))
        mu, logvar = self.mu(h), mx.clip(self.lv(h), -6, 4)
        z = mu + mx.exp(0.5 * logvar) * mx.random.normal(mu.shape)
        z = z + noise_std * mx.random.normal(z.shape)
        c = self.cond((props - self.pm) / self.ps)
        hz = self.z2h(mx.concatenate([z, c], axis=-1))
        dec_in = self.emb(x[:, :-1]) + self.pos + hz[:, None, :]
        return self.dec(dec_in), mu, logvar, self.prop(z)

model = CVAE()
model.pm = mx.mean(P, axis=0); model.ps = mx.std(P, axis=0) + 1e-6
model.freeze(keys=["pos", "pm", "ps"])
mx.eval(model.parameters())
optimizer = optim.Adam(learning_rate=2e-3)

def train_step(model, bx, bp, optimizer, beta, diversity_weight=0.01, property_weight=1.0):
    def loss_fn(model):
        logits, mu, logvar, pred = model(bx, bp)
        recon_loss, kl_loss, diversity_loss = compute_loss(bx, logits, mu, logvar, beta, diversity_weight)
        norm_t = (bp - model.pm) / model.ps
        property_loss = mx.mean((pred - norm_t) ** 2)
        total = recon_loss + beta * kl_loss + diversity_weight * diversity_loss + property_weight * property_loss
        return total, recon_loss, kl_loss, diversity_loss, property_loss
    (total, rec, kl, div, prop), grads = nn.value_and_grad(model, loss_fn)(model)
    grads = __import__("mlx.utils", fromlist=["tree_map"]).tree_map(lambda g: mx.clip(g, -1.0, 1.0), grads)
    optimizer.update(model, grads)
    mx.eval(model.parameters(), optimizer.state, total)
    return total.item(), rec.item(), kl.item(), div.item(), prop.item()

t0 = time.time()
B, EPOCHS = 64, 10
for epoch in range(1, EPOCHS + 1):
    beta = min(0.1, 0.02 * epoch)
    perm = mx.random.permutation(X.shape[0])
    sums = [0.0] * 5; nb = 0
    for i in range(0, X.shape[0], B):
        idx = perm[i:i + B]
        out = train_step(model, X[idx], P[idx], optimizer, beta)
        sums = [s + o for s, o in zip(sums, out)]; nb += 1
    tot, rec, kl, div, prop = [s / nb for s in sums]
    print(f"Epoch {epoch:2d}/{EPOCHS} | beta={beta:.2f} | Total: {tot:.4f} | Recon: {rec:.4f} | KL: {kl:.4f} | Div: {div:.4f} | Prop: {prop:.4f}")
print(f"done in {time.time() - t0:.1f}s")
