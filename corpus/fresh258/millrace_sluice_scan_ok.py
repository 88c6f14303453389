"""Keyword spotting with a small stacked state space model (MLX).

Synthetic "speech commands": each clip is a sequence of mel-like frames where
the keyword class decides which frequency band carries a burst of energy and
when it happens.  A 3-layer linear state space stack reads the clip and the
last timestep is used for classification.
"""

import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np


class StateSpace(nn.Module):
    """
    Basic State Space Model (SSM).

        x'(t) = A x(t) + B u(t)
        y(t)  = C x(t) + D u(t)

    Discretized for sequence modeling.
    """

    def __init__(self, dim_input, dim_state, dim_output, dt_min=0.001, dt_max=0.1):
        super().__init__()
        self.dim_input = dim_input
        self.dim_state = dim_state
        self.dim_output = dim_output

        self.A = nn.Linear(dim_state, dim_state, bias=False)
        self.B = nn.Linear(dim_input, dim_state, bias=False)
        self.C = nn.Linear(dim_state, dim_output, bias=False)
        self.D = nn.Linear(dim_input, dim_output, bias=False)

        # Fixed small discretization timestep (not learnable for stability)
        self.dt = 0.01  # Small fixed timestep

        self._initialize_parameters()

    def _initialize_parameters(self):
        # slightly negative diagonal (stable continuous system)
        self.A.weight = -0.5 * mx.eye(self.dim_state) + 0.1 * mx.random.normal(
            (self.dim_state, self.dim_state)
        )
        self.B.weight = 0.1 * mx.random.normal((self.dim_state, self.dim_input))
        self.C.weight = 0.1 * mx.random.normal((self.dim_output, self.dim_state))
        self.D.weight = 0.01 * mx.random.normal((self.dim_output, self.dim_input))

    def discretize(self):
        dt = self.dt

        A = self.A.weight
        B = self.B.weight
        # A_d = exp(A dt) ~ I + A dt ;  B_d ~ dt B
        A_discrete = mx.eye(self.dim_state) + dt * A
        B_discrete = dt * B
        return A_discrete, B_discrete

    def __call__(self, u):
        batch_size, seq_len, _ = u.shape
        A_d, B_d = self.discretize()
        C = self.C.weight
        D = self.D.weight

        state = mx.zeros((batch_size, self.dim_state))
        outputs = []
        for t in range(seq_len):
            u_t = u[:, t, :]
            state = mx.matmul(state, A_d.T) + mx.matmul(u_t, B_d.T)
            outputs.append(mx.matmul(state, C.T) + mx.matmul(u_t, D.T))
        return mx.stack(outputs, axis=1)


class S4Model(nn.Module):
    def __init__(self, dim_input, dim_state, dim_output, n_layers=3):
        super().__init__()
        layers = [StateSpace(dim_input, dim_state, dim_output), nn.ReLU()]
        for _ in range(n_layers - 1):
            layers.append(StateSpace(dim_output, dim_state, dim_output))
            layers.append(nn.ReLU())
        self.layers = nn.Sequential(*layers)
        self.norm = nn.LayerNorm(dim_output)

    def __call__(self, x):
        return self.norm(self.layers(x))


def make_clips(n, seq_len, n_mels, num_classes, rng):
    """Mel-like clips: background noise + a class-specific band burst."""
    x = 0.3 * rng.standard_normal((n, seq_len, n_mels)).astype(np.float32)
    y = rng.integers(0, num_classes, size=n)
    band = n_mels // num_classes
    for i in range(n):
        c = y[i]
        start = rng.integers(seq_len // 4, seq_len // 2)
        length = rng.integers(seq_len // 5, seq_len // 3)
        x[i, start : start + length, c * band : (c + 1) * band] += 1.5
    return x, y.astype(np.int32)


def batches(x, y, batch_size, shuffle, rng):
    idx = rng.permutation(len(x)) if shuffle else np.arange(len(x))
    for s in range(0, len(x), batch_size):
        b = idx[s : s + batch_size]
        yield mx.array(x[b]), mx.array(y[b])


def main():
    mx.random.seed(0)
    rng = np.random.default_rng(0)

    num_classes = 4
    seq_len = 64
    n_mels = 16
    dim_state = 64
    batch_size = 32
    num_epochs = 10
    learning_rate = 1e-3

    train_x, train_y = make_clips(384, seq_len, n_mels, num_classes, rng)
    val_x, val_y = make_clips(128, seq_len, n_mels, num_classes, rng)
    print(f"train clips {train_x.shape}, val clips {val_x.shape}, classes {num_classes}")

    model = S4Model(n_mels, dim_state, num_classes, n_layers=3)
    mx.eval(model.parameters())
    optimizer = optim.Adam(learning_rate=learning_rate)

    @mx.compile
    def loss_fn(params, x, y):
        model.update(params)
        logits = model(x)
        final_logits = logits[:, -1, :]
        return mx.mean(nn.losses.cross_entropy(final_logits, y))

    def evaluate(xs, ys):
        total_loss, correct, n, nb = 0.0, 0, 0, 0
        for features, labels in batches(xs, ys, batch_size, False, rng):
            logits = model(features)[:, -1, :]
            total_loss += mx.mean(nn.losses.cross_entropy(logits, labels)).item()
            correct += mx.sum(mx.argmax(logits, axis=1) == labels).item()
            n += len(labels)
            nb += 1
        return total_loss / nb, correct / n

    print("Starting training...")
    for epoch in range(num_epochs):
        total_loss, nb = 0.0, 0
        for features, labels in batches(train_x, train_y, batch_size, True, rng):
            loss, grads = mx.value_and_grad(loss_fn)(model.parameters(), features, labels)
            optimizer.update(model, grads)
            mx.eval(model.parameters(), optimizer.state)
            total_loss += loss.item()
            nb += 1
        val_loss, val_acc = evaluate(val_x, val_y)
        train_loss = total_loss / nb
        print(
            f"epoch {epoch + 1:2d} | train loss {train_loss:.4f} | "
            f"val loss {val_loss:.4f} | val acc {val_acc:.3f} (chance {1 / num_classes:.3f})"
        )

    val_loss, val_acc = evaluate(val_x, val_y)
    print(f"Final: val loss {val_loss:.4f}, val acc {val_acc:.3f}")


if __name__ == "__main__":
    main()
