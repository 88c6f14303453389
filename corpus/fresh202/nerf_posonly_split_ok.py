# Fit a tiny 2D "image" with a NeRF MLP in position-only mode (no view directions),
# following nerf_meets_mlx's image-learning entrypoint.
import math
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


class SinusoidalEncoding:
    def __init__(self, in_dim, n_freqs, min_freq=0.0, max_freq=3.0, is_include_input=True):
        self.in_dim = in_dim
        self.n_freqs = n_freqs
        self.min_freq = min_freq
        self.max_freq = max_freq
        self.is_include_input = is_include_input

    def get_out_dim(self):
        return self.in_dim * self.n_freqs * 2 + (self.in_dim if self.is_include_input else 0)

    def __call__(self, in_array):
        freq_bands = 2.0 ** mx.linspace(self.min_freq, self.max_freq, num=self.n_freqs)
        s = 2.0 * mx.pi * in_array
        s = s[..., None] * freq_bands
        s = mx.reshape(s, (s.shape[0], -1))
        out = mx.sin(mx.concatenate([s, s + mx.pi / 2.0], axis=-1))
        if self.is_include_input:
            out = mx.concatenate([out, in_array], axis=-1)
        return out


class NeRF(nn.Module):
    def __init__(self, n_layers=4, width_layers=64, channel_input=3, channel_input_views=3,
                 channel_output=4, list_skip_connection_layers=[2], is_use_view_directions=False):
        super().__init__()
        self.D = n_layers
        self.W = width_layers
        self.channel_input_pos = channel_input
        self.channel_input_dir = channel_input_views
        self.list_skip_connection_layers = list_skip_connection_layers
        self.is_use_view_directions = is_use_view_directions
        self.list_linears_pos = [nn.Linear(channel_input, width_layers)] + [
            nn.Linear(width_layers, width_layers) if i not in self.list_skip_connection_layers
            else nn.Linear(width_layers + channel_input, width_layers)
            for i in range(n_layers - 1)
        ]
        if is_use_view_directions:
            self.list_linears_dir = [nn.Linear(width_layers + channel_input_views, width_layers // 2)]
            self.feature_linear = nn.Linear(width_layers, width_layers)
            self.alpha_linear = nn.Linear(width_layers, 1)
            self.rgb_linear = nn.Linear(width_layers // 2, 3)
        else:
            self.output_linear = nn.Linear(width_layers, channel_output)

    def forward(self, x):
        if self.is_use_view_directions:
            input_pos, input_dir = mx.split(
                x,
                indices_or_sections=[self.channel_input_pos, self.channel_input_dir],
                axis=-1
            )
        else:
            input_pos = x

        h = input_pos
        for idx, layer_pos in enumerate(self.list_linears_pos):
            h = nn.relu(layer_pos(h))
            if idx in self.list_skip_connection_layers:
                h = mx.concatenate([input_pos, h], axis=-1)

        if self.is_use_view_directions:
            alpha = self.alpha_linear(h)
            feature = self.feature_linear(h)
            h = mx.concatenate([feature, input_dir], axis=-1)
            for layer_dir in self.list_linears_dir:
                h = nn.relu(layer_dir(h))
            rgb = self.rgb_linear(h)
            return mx.concatenate([rgb, alpha], axis=-1)
        return self.output_linear(h)

    def __call__(self, x):
        return self.forward(x)


def make_image(H=32, W=32):
    ys, xs = mx.meshgrid(mx.arange(H) / H, mx.arange(W) / W, indexing="ij")
    r = 0.5 + 0.5 * mx.sin(6.0 * xs) * mx.cos(4.0 * ys)
    g = (((xs - 0.5) ** 2 + (ys - 0.5) ** 2) < 0.09).astype(mx.float32)
    b = xs * ys
    img = mx.stack([r, g, b], axis=-1)
    coords = mx.stack([ys, xs], axis=-1).reshape(-1, 2)
    return coords, img.reshape(-1, 3)


def main():
    mx.random.seed(0)
    coords, rgb_gt = make_image()
    embed = SinusoidalEncoding(in_dim=2, n_freqs=6)
    X_all = embed(coords)
    model = NeRF(channel_input=embed.get_out_dim(), channel_output=3)
    mx.eval(model.parameters())
    optimizer = optim.Adam(learning_rate=5e-3)

    def loss_fn(model, X, y):
        pred = mx.sigmoid(model(X))
        return mx.mean((pred - y) ** 2)

    loss_and_grad_fn = nn.value_and_grad(model, loss_fn)
    n = X_all.shape[0]
    batch_size = 256
    t0 = time.time()
    for epoch in range(40):
        perm = mx.random.permutation(n)
        total = 0.0
        for s in range(0, n, batch_size):
            idx = perm[s:s + batch_size]
            loss, grads = loss_and_grad_fn(model, X_all[idx], rgb_gt[idx])
            optimizer.update(model, grads)
            mx.eval(model.parameters(), optimizer.state, loss)
            total += loss.item() * idx.shape[0]
        if epoch % 5 == 0 or epoch == 39:
            mse = total / n
            psnr = -10.0 * math.log10(max(mse, 1e-10))
            print(f"[epoch {epoch:02d}] mse={mse:.5f} psnr={psnr:.2f}dB ({time.time() - t0:.1f}s)")
    pred = mx.sigmoid(model(X_all))
    print(f"final psnr over {n} px: {-10.0 * math.log10(mx.mean((pred - rgb_gt) ** 2).item()):.2f}dB")


if __name__ == "__main__":
    main()
