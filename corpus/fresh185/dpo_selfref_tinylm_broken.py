# Tiny DPO fine-tune of a toy bigram-ish LM on synthetic preference pairs.
# "chosen" completions count upward mod V, "rejected" ones are shuffled tokens.
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

V, D, L = 16, 32, 10
SEED = 7


class TinyLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, D)
        self.mix = nn.Linear(D, D)
        self.out = nn.Linear(D, V)

    def __call__(self, x):
        h = self.emb(x)
        h = nn.gelu(self.mix(h)) + h
        return self.out(h)


def load_model(seed):
    # stands in for load(args.model): same checkpoint every time
    mx.random.seed(seed)
    m = TinyLM()
    mx.eval(m.parameters())
    return m


def make_pairs(n, rng):
    chosen, rejected = [], []
    for _ in range(n):
        s = rng.integers(0, V)
        c = [(s + i) % V for i in range(L)]
        r = [s] + list(rng.integers(0, V, size=L - 1))
        chosen.append(c)
        rejected.append(r)
    return mx.array(np.array(chosen)), mx.array(np.array(rejected))


def dpo_loss(model, reference_model, chosen, rejected, beta):
    def scores(m, x):
        logits = m(x[:, :-1]).astype(mx.float32)
        return -nn.losses.cross_entropy(logits, x[:, 1:]).sum(-1)

    pc = scores(model, chosen)
    pr = scores(model, rejected)
    rc = mx.stop_gradient(scores(reference_model, chosen))
    rr = mx.stop_gradient(scores(reference_model, rejected))
    logits = (pc - pr) - (rc - rr)
    loss = mx.mean(-nn.log_sigmoid(beta * logits))
    reward = mx.stack([beta * mx.mean(pc - rc), beta * mx.mean(pr - rr)])
    return loss, reward


def train_dpo(model, reference_model, optimizer, data, iters=300, batch=32, beta=0.1):
    chosen, rejected = data
    n = chosen.shape[0]
    rng = np.random.default_rng(1)

    def loss_fn(m, c, r):
        return dpo_loss(m, reference_model, c, r, beta)

    loss_and_grad = nn.value_and_grad(model, loss_fn)
    losses, t0 = [], time.time()
    for it in range(1, iters + 1):
        idx = mx.array(rng.choice(n, batch, replace=False))
        (loss, reward), grads = loss_and_grad(model, chosen[idx], rejected[idx])
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state, loss, reward)
        losses.append(loss.item())
        if it % 25 == 0:
            r = reward.tolist()
            print(f"Iter {it}: Train loss {np.mean(losses):.4f}, "
                  f"Chosen reward {r[0]:.3f}, Rejected reward {r[1]:.3f}, "
                  f"It/sec {25 / (time.time() - t0):.1f}")
            losses, t0 = [], time.time()


def main():
    rng = np.random.default_rng(0)
    data = make_pairs(512, rng)
    model = load_model(SEED)
    reference_model = model
    opt = optim.Adam(learning_rate=2e-4)
    train_dpo(model, reference_model, opt, data)


if __name__ == "__main__":
    main()
