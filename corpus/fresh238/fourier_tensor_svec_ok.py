"""Learn an anisotropic heat-conductivity tensor from fibre-composite descriptors.

Each coupon is described by its fibre angle and fibre fraction.  A small MLP
predicts the 3x3 conductivity tensor K in scaled svec form (lower triangle,
column-major, off-diagonals times sqrt(2)); K is unpacked to a full symmetric
matrix and Fourier's law q = -K grad(T) is fitted to measured heat fluxes.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

N_DIM = 3
N_SVEC = N_DIM * (N_DIM + 1) // 2


def _svec_to_symmetric(
    svec: mx.array,
    n: int,
    batch: tuple,
    rows: np.ndarray,
    cols: np.ndarray,
    scale: np.ndarray | None = None,
) -> mx.array:
    """Convert vectorized form to full symmetric matrix.

    Args:
        svec: Vectorized form, shape (*batch, n*(n+1)/2)
        n: Matrix dimension
        batch: Batch dimensions
        rows: Row indices for unpacking
        cols: Column indices for unpacking
        scale: Optional scaling factors (for svec format with sqrt(2) scaling)

    Returns:
        Full symmetric matrix, shape (*batch, n, n)
    """
    if scale is not None:
        scale_mx = mx.array(scale, dtype=svec.dtype)
        data = svec * scale_mx
    else:
        data = svec

    k = len(rows)
    S_np = np.zeros((k, n * n), dtype=np.float64)
    for i in range(k):
        r, c = int(rows[i]), int(cols[i])
        S_np[i, r * n + c] = 1.0
        S_np[i, c * n + r] = 1.0
    S = mx.array(S_np, dtype=svec.dtype)

    flat = data @ S
    out_shape = batch + (n, n)
    return mx.reshape(flat, out_shape)


def _unpack_svec(svec: mx.array, n: int, batch: tuple) -> mx.array:
    """Scaled svec (column-major lower triangle, off-diagonals * sqrt(2)) -> matrix."""
    rows_rm, cols_rm = np.tril_indices(n)
    sort_idx = np.lexsort((rows_rm, cols_rm))
    rows = rows_rm[sort_idx]
    cols = cols_rm[sort_idx]
    scale = np.where(rows == cols, 1.0, 1.0 / np.sqrt(2.0))
    return _svec_to_symmetric(svec, n, batch, rows, cols, scale)


# ----------------------------------------------------------------------------
# synthetic coupons
# ----------------------------------------------------------------------------
def true_tensor(angle, frac):
    k_par = 1.0 + 9.0 * frac
    k_perp = 1.0 + 2.0 * frac
    k_z = 0.5 + 1.0 * frac
    c, s = np.cos(angle), np.sin(angle)
    K = np.zeros((angle.shape[0], 3, 3))
    K[:, 0, 0] = k_par * c * c + k_perp * s * s
    K[:, 1, 1] = k_par * s * s + k_perp * c * c
    K[:, 0, 1] = K[:, 1, 0] = (k_par - k_perp) * c * s
    K[:, 2, 2] = k_z
    return K


def make_coupons(rng, n):
    angle = rng.uniform(0.0, np.pi, n)
    frac = rng.uniform(0.1, 0.6, n)
    feats = np.stack([np.cos(2 * angle), np.sin(2 * angle), (frac - 0.35) / 0.15], axis=1)
    return feats.astype(np.float32), true_tensor(angle, frac).astype(np.float32)


def measure(rng, K, n_grad=16, noise=0.05):
    g = rng.normal(size=(K.shape[0], n_grad, 3)).astype(np.float32)
    q = -np.einsum("bij,bgj->bgi", K, g)
    q = q + noise * rng.normal(size=q.shape)
    return g, q.astype(np.float32)


class TensorNet(nn.Module):
    def __init__(self, hidden=64):
        super().__init__()
        self.l1 = nn.Linear(3, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, N_SVEC)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.out(h)


def predict_tensor(model, feats):
    svec = model(feats)
    return _unpack_svec(svec, N_DIM, (feats.shape[0],))


def loss_fn(model, feats, grads, flux):
    K = predict_tensor(model, feats)
    q_pred = -mx.einsum("bij,bgj->bgi", K, grads)
    return mx.mean(mx.square(q_pred - flux))


def rel_err(K_pred, K_true):
    num = mx.sqrt(mx.sum(mx.square(K_pred - K_true), axis=(1, 2)))
    den = mx.sqrt(mx.sum(mx.square(K_true), axis=(1, 2)))
    return mx.mean(num / den).item()


def main():
    rng = np.random.default_rng(7)
    mx.random.seed(7)
    tr_x, tr_K = make_coupons(rng, 4096)
    va_x, va_K = make_coupons(rng, 512)
    va_Kx = mx.array(va_K)
    va_feats = mx.array(va_x)

    mean_K = mx.broadcast_to(mx.mean(mx.array(tr_K), axis=0), va_Kx.shape)
    print(f"coupons: train {tr_x.shape[0]}  valid {va_x.shape[0]}  svec length {N_SVEC}")
    print(f"baseline (mean tensor) valid rel. error: {rel_err(mean_K, va_Kx):.4f}")

    model = TensorNet()
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=3e-3)
    step_fn = nn.value_and_grad(model, loss_fn)

    print(f"untrained valid rel. error: {rel_err(predict_tensor(model, va_feats), va_Kx):.4f}")
    t0 = time.time()
    batch = 64
    running = []
    for step in range(1, 601):
        idx = rng.integers(0, tr_x.shape[0], batch)
        g, q = measure(rng, tr_K[idx])
        loss, grads = step_fn(model, mx.array(tr_x[idx]), mx.array(g), mx.array(q))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        running.append(loss.item())
        if step % 50 == 0:
            err = rel_err(predict_tensor(model, va_feats), va_Kx)
            print(
                f"step {step:4d}  flux mse {np.mean(running):.5f}  "
                f"valid K rel.err {err:.4f}  ({time.time() - t0:.1f}s)"
            )
            running = []

    K_hat = predict_tensor(model, va_feats)
    print(f"final valid rel. error: {rel_err(K_hat, va_Kx):.4f}  (noise floor flux mse ~{0.05**2:.4f})")
    print("coupon 0 predicted K:")
    print(np.array(K_hat[0]).round(3))
    print("coupon 0 true K:")
    print(va_K[0].round(3))


if __name__ == "__main__":
    main()
