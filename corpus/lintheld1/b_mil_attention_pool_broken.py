"""Multiple-instance learning: each user is a bag of (up to 8) events; a bag is
positive if any event is 'suspicious'. Attention pooling over the valid events."""
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

MAX_EVENTS, FEAT = 8, 6


class AttnMIL(nn.Module):
    def __init__(self, feat=FEAT, hidden=16):
        super().__init__()
        self.embed = nn.Linear(feat, hidden)
        self.score = nn.Linear(hidden, 1)
        self.cls = nn.Linear(hidden, 1)

    def __call__(self, events, valid):
        h = nn.gelu(self.embed(events))                  # (B, N, H)
        s = self.score(h).squeeze(-1)                    # (B, N)
        s = mx.where(valid, s, -mx.inf)
        a = mx.softmax(s, axis=-1)
        pooled = (a[..., None] * h).sum(axis=1)          # (B, H)
        return self.cls(pooled).squeeze(-1)


def user_bags(n_users, seed=0):
    mx.random.seed(seed)
    counts = mx.random.randint(0, MAX_EVENTS + 1, (n_users,))   # some users have no events
    valid = mx.arange(MAX_EVENTS)[None, :] < counts[:, None]
    events = mx.random.normal((n_users, MAX_EVENTS, FEAT)) * valid[..., None]
    suspicious = (events[..., 0] > 1.5) & valid
    label = suspicious.any(axis=1).astype(mx.float32)
    return events, valid, label


def train_epoch(mil, opt, data, batch=64):
    events, valid, label = data

    def bce(m, e, v, y):
        return nn.losses.binary_cross_entropy(m(e, v), y, reduction="mean")

    vg = nn.value_and_grad(mil, bce)
    for i in range(0, events.shape[0], batch):
        loss, g = vg(mil, events[i:i + batch], valid[i:i + batch], label[i:i + batch])
        opt.update(mil, g)
        mx.eval(mil.parameters(), opt.state, loss)
        yield loss.item()


def main():
    data = user_bags(1536)
    print(f"empty bags: {(data[1].sum(axis=1) == 0).sum().item()} / {data[0].shape[0]}")
    mil = AttnMIL()
    opt = optim.Adam(learning_rate=3e-3)
    for epoch in range(4):
        losses = list(train_epoch(mil, opt, data))
        nan_batches = sum(l != l for l in losses)
        print(f"epoch {epoch} first-batch loss {losses[0]:.4f} last-batch loss {losses[-1]:.4f} nan batches {nan_batches}/{len(losses)}")
    events, valid, label = data
    acc = (((mil(events, valid) > 0).astype(mx.float32)) == label).mean().item()
    print(f"bag accuracy {acc:.3f}")


if __name__ == "__main__":
    main()
