"""Two-level recurrent reasoner (HRM-style) on 4x4 Latin-square completion.

A slow high-level module and a fast low-level module iterate over the grid;
only the last cycle carries gradient. Each puzzle also has its own learned
identifier embedding, prepended as an extra token. Optimised with an
AdamATan2 port for MLX.
"""

import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten


class AdamATan2(optim.Optimizer):
    """
    AdamATan2 optimizer for MLX

    Uses atan2 instead of division for numerical stability without epsilon.

    Args:
        learning_rate: Learning rate (default: 1e-4)
        betas: Coefficients for computing running averages (default: [0.9, 0.99])
        weight_decay: Weight decay coefficient (default: 0.0)
    """

    def __init__(
        self,
        learning_rate: float = 1e-4,
        betas: tuple = (0.9, 0.99),
        weight_decay: float = 0.0,
    ):
        super().__init__()
        self.learning_rate = learning_rate
        self.beta1, self.beta2 = betas
        self.weight_decay = weight_decay

        # Initialize state
        self._step = 0

    def init_single(self, parameter: mx.array, state: dict) -> dict:
        """Initialize optimizer state for a single parameter"""
        state["m"] = mx.zeros_like(parameter)  # First moment
        state["v"] = mx.zeros_like(parameter)  # Second moment
        state["step"] = 0  # Track steps per parameter
        return state

    def apply_single(
        self,
        gradient: mx.array,
        parameter: mx.array,
        state: dict,
    ) -> mx.array:
        """Apply AdamATan2 update to a single parameter"""

        # Get moments
        m = state["m"]
        v = state["v"]

        # Update biased moments
        m = self.beta1 * m + (1 - self.beta1) * gradient
        v = self.beta2 * v + (1 - self.beta2) * (gradient ** 2)

        # Update state
        state["m"] = m
        state["v"] = v

        # Bias correction
        step = state["step"]
        bias_correction1 = 1 - self.beta1 ** step
        bias_correction2 = 1 - self.beta2 ** step

        # den = exp_avg_sq.mul(b * b / bias_correct2).sqrt_()
        # update = exp_avg.mul(1. / bias_correct1).atan2_(den)
        b = 1.0 / self.learning_rate
        den = mx.sqrt(mx.maximum(v / bias_correction2, 1e-20) * b * b)
        update = mx.arctan2(m / bias_correction1, den)
        update = update * self.learning_rate

        # Apply weight decay (decoupled style)
        if self.weight_decay > 0:
            parameter = parameter * (1 - self.learning_rate * self.weight_decay)

        # Apply update
        parameter = parameter - update

        return parameter


# ---------------------------------------------------------------- data
N = 4
CELLS = N * N


def latin_square(rng):
    base = (np.arange(N)[:, None] + np.arange(N)[None, :]) % N
    base = base[rng.permutation(N)][:, rng.permutation(N)]
    sym = rng.permutation(N) + 1
    return sym[base]


def build_set(rng, squares, blanks_lo, blanks_hi):
    inputs, targets, ids = [], [], []
    for pid, sq in enumerate(squares):
        flat = sq.reshape(-1)
        k = rng.integers(blanks_lo, blanks_hi + 1)
        hole = rng.choice(CELLS, size=k, replace=False)
        puzzle = flat.copy()
        puzzle[hole] = 0
        inputs.append(puzzle)
        targets.append(flat)
        ids.append(pid)
    return (mx.array(np.stack(inputs)), mx.array(np.stack(targets)),
            mx.array(np.array(ids)))


# ---------------------------------------------------------------- model
class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.n1 = nn.RMSNorm(d)
        self.attn = nn.MultiHeadAttention(d, heads)
        self.n2 = nn.RMSNorm(d)
        self.ff1 = nn.Linear(d, 2 * d)
        self.ff2 = nn.Linear(2 * d, d)

    def __call__(self, x):
        h = self.n1(x)
        x = x + self.attn(h, h, h)
        return x + self.ff2(nn.gelu(self.ff1(self.n2(x))))


class TwoLevelReasoner(nn.Module):
    def __init__(self, n_puzzles, d=32, heads=4, h_cycles=2, l_cycles=2):
        super().__init__()
        self.tok = nn.Embedding(N + 1, d)
        self.pos = nn.Embedding(CELLS + 1, d)
        self.puzzle = nn.Embedding(n_puzzles, d)
        self.low = Block(d, heads)
        self.high = Block(d, heads)
        self.head = nn.Linear(d, N + 1)
        self.h_cycles = h_cycles
        self.l_cycles = l_cycles

    def embed(self, grid, pid):
        x = self.tok(grid)
        x = mx.concatenate([self.puzzle(pid)[:, None, :], x], axis=1)
        return x + self.pos(mx.arange(CELLS + 1))

    def __call__(self, grid, pid):
        x = self.embed(grid, pid)
        z_h = mx.zeros_like(x)
        z_l = mx.zeros_like(x)
        total = self.h_cycles * self.l_cycles
        i = 0
        for _ in range(self.h_cycles):
            for _ in range(self.l_cycles):
                i += 1
                z_l = self.low(z_l + z_h + x)
                if i < total:
                    z_l = mx.stop_gradient(z_l)
            z_h = self.high(z_h + z_l)
            if i < total:
                z_h = mx.stop_gradient(z_h)
        return self.head(z_h[:, 1:, :])


def loss_fn(model, grid, target, pid):
    logits = model(grid, pid)
    ce = nn.losses.cross_entropy(logits, target, reduction="none")
    blank = (grid == 0).astype(mx.float32)
    return (ce * blank).sum() / blank.sum()


def evaluate(model, grid, target, pid):
    pred = mx.argmax(model(grid, pid), axis=-1)
    blank = grid == 0
    hit = (pred == target) | (~blank)
    cell_acc = ((pred == target) & blank).sum() / blank.sum()
    solved = mx.all(hit, axis=1).astype(mx.float32).mean()
    return cell_acc.item(), solved.item()


def main():
    rng = np.random.default_rng(7)
    mx.random.seed(7)
    n_puzzles = 192
    squares = [latin_square(rng) for _ in range(n_puzzles)]
    tr_x, tr_y, tr_id = build_set(rng, squares, 5, 8)
    va_x, va_y, va_id = build_set(rng, squares, 5, 8)

    model = TwoLevelReasoner(n_puzzles)
    mx.eval(model.parameters())
    n_params = sum(v.size for _, v in tree_flatten(model.parameters()))
    print(f"parameters: {n_params:,}  puzzles: {n_puzzles}")

    optimizer = AdamATan2(learning_rate=0.03, betas=(0.9, 0.95), weight_decay=0.01)
    step_fn = nn.value_and_grad(model, loss_fn)

    batch = 32
    steps = 320
    t0 = time.time()
    perm = rng.permutation(n_puzzles)
    cursor = 0
    window = []
    for step in range(1, steps + 1):
        if cursor + batch > n_puzzles:
            perm = rng.permutation(n_puzzles)
            cursor = 0
        idx = mx.array(perm[cursor:cursor + batch])
        cursor += batch
        loss, grads = step_fn(model, tr_x[idx], tr_y[idx], tr_id[idx])
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state, loss)
        window.append(loss.item())
        if step <= 3:
            print(f"step {step:4d} | loss {window[-1]:.4f}")
        if step % 20 == 0:
            print(f"step {step:4d} | loss {sum(window) / len(window):.4f} | "
                  f"{time.time() - t0:5.1f}s")
            window = []
        if step % 80 == 0:
            acc, solved = evaluate(model, va_x, va_y, va_id)
            print(f"  val | blank-cell acc {acc:.3f} | solved {solved:.3f}")

    acc, solved = evaluate(model, va_x, va_y, va_id)
    print(f"final val blank-cell acc {acc:.3f}  solved grids {solved:.3f}  "
          f"(chance per cell 0.25)")


if __name__ == "__main__":
    main()
