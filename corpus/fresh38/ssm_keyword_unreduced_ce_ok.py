# Keyword spotting on synthetic "spectrogram" frames with a small discretised
# state-space model (learnable A, B, C, D and a learnable log step size).
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


class StateSpace(nn.Module):
    def __init__(self, dim_input, dim_state, dim_output):
        super().__init__()
        self.dim_state = dim_state
        self.A = nn.Linear(dim_state, dim_state, bias=False)
        self.B = nn.Linear(dim_input, dim_state, bias=False)
        self.C = nn.Linear(dim_state, dim_output, bias=False)
        self.D = nn.Linear(dim_input, dim_output, bias=False)
        self.log_dt = mx.full((1,), math.log(0.5))
        self.A.weight = -0.5 * mx.eye(dim_state) + 0.05 * mx.random.normal((dim_state, dim_state))
        self.B.weight = 0.3 * mx.random.normal((dim_state, dim_input))
        self.C.weight = 0.3 * mx.random.normal((dim_output, dim_state))
        self.D.weight = 0.05 * mx.random.normal((dim_output, dim_input))

    def discretize(self):
        dt = mx.exp(self.log_dt)
        A_d = mx.eye(self.dim_state) + dt * self.A.weight   # exp(A dt) ~ I + A dt
        B_d = dt * self.B.weight
        return A_d, B_d

    def __call__(self, u):
        batch, seq_len, _ = u.shape
        A_d, B_d = self.discretize()
        h = mx.zeros((batch, self.dim_state))
        outs = []
        for t in range(seq_len):
            x_t = u[:, t, :]
            h = h @ A_d.T + x_t @ B_d.T
            outs.append(self.C(h) + self.D(x_t))
        return mx.stack(outs, axis=1)


class SSMClassifier(nn.Module):
    def __init__(self, n_mels, dim_state, n_classes):
        super().__init__()
        self.layer_0 = StateSpace(n_mels, dim_state, 24)
        self.layer_1 = StateSpace(24, dim_state, n_classes)

    def __call__(self, x):
        return self.layer_1(nn.gelu(self.layer_0(x)))


def make_words(n, n_mels=12, frames=20, n_classes=4, seed=0):
    """Each 'word' is a chirp sweeping over a class-specific band of mel bins."""
    rng = np.random.default_rng(seed)
    X = np.zeros((n, frames, n_mels), np.float32)
    y = rng.integers(0, n_classes, n)
    t = np.arange(frames)
    for i in range(n):
        c = y[i]
        start = 2 * c + rng.normal(0, 0.4)
        slope = (0.25 if c % 2 == 0 else -0.25) + rng.normal(0, 0.05)
        centre = start + slope * t + (n_mels / 2 - n_classes)
        bins = np.arange(n_mels)[None, :]
        X[i] = np.exp(-0.5 * ((bins - centre[:, None]) / 1.2) ** 2)
        X[i] += rng.normal(0, 0.15, (frames, n_mels))
    return X, y.astype(np.int32)


def batches(X, y, bs, shuffle, rng):
    idx = rng.permutation(len(X)) if shuffle else np.arange(len(X))
    for s in range(0, len(X), bs):
        j = idx[s:s + bs]
        yield mx.array(X[j]), mx.array(y[j])


def main():
    mx.random.seed(3)
    rng = np.random.default_rng(3)
    Xtr, ytr = make_words(640, seed=1)
    Xva, yva = make_words(160, seed=2)

    model = SSMClassifier(n_mels=12, dim_state=16, n_classes=4)
    mx.eval(model.parameters())
    optimizer = optim.Adam(learning_rate=3e-3)
    batch_size = 32

    def loss_fn(params, x, y):
        model.update(params)
        logits = model(x)
        pooled_logits = mx.mean(logits, axis=1)
        loss = nn.losses.cross_entropy(pooled_logits, y)
        return mx.mean(loss)

    def evaluate():
        total, correct, n = 0.0, 0, 0
        for xb, yb in batches(Xva, yva, 80, False, rng):
            pooled = mx.mean(model(xb), axis=1)
            total += mx.mean(nn.losses.cross_entropy(pooled, yb)).item() * len(yb)
            correct += (mx.argmax(pooled, axis=1) == yb).sum().item()
            n += len(yb)
        return total / n, correct / n

    num_epochs = 8
    t0 = time.time()
    for epoch in range(num_epochs):
        total_loss, num_batches = 0.0, 0
        for xb, yb in batches(Xtr, ytr, batch_size, True, rng):
            loss, grads = mx.value_and_grad(loss_fn)(model.parameters(), xb, yb)
            optimizer.update(model, grads)
            mx.eval(model.parameters(), optimizer.state)
            total_loss += loss.item()
            num_batches += 1
            if num_batches % 10 == 0:
                print(f"Epoch {epoch+1}, Batch {num_batches}, Loss: {loss.item():.4f}")
        val_loss, val_acc = evaluate()
        print(f"Epoch {epoch+1}/{num_epochs} done in {time.time()-t0:.1f}s")
        print(f"  Train Loss: {total_loss/num_batches:.4f}")
        print(f"  Val Loss: {val_loss:.4f}, Val Accuracy: {val_acc:.4f}")


if __name__ == "__main__":
    main()
