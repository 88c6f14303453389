// native_step2: the mlx-rs trainer of the source reports, one layer down (MLX's C++ API, the
// library mlx-rs wraps through mlx-c). A tiny next-token MLP on a synthetic token stream,
// trained with AdamW written out with MLX ops (the wheel's C++ headers have no optimizers;
// mlx-rs's AdamW is itself written in Rust over the same ops: m, v, decoupled decay, no
// bias correction, as mlx.optimizers.AdamW's defaults).
//
//   native_step2 VARIANT [STEPS]
//   broken            optimizer update, no eval of parameters or optimizer state; the loss is
//                     logged (and so evaluated) every LOG_EVERY steps
//   broken-loss-eval  the seed's loop as written: eval(loss) and loss.item() every step, the
//                     update never evaluated
//   clear-cache       broken + clear_cache() after every update (the second report's "fix")
//   recreate-vg       value_and_grad re-created every step (otherwise the correct loop)
//   fixed             one eval of loss, parameters and optimizer state per step
//
// Prints "Step N/T | loss: X" as the reports' trainer did, "[DEBUG] Step N: ..." notes on
// stderr, and at the end "params checksum: C (...)". Exit 0, or 2 on a bad variant.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "mlx/mlx.h"

namespace mx = mlx::core;

namespace {

constexpr int VOCAB = 64, DIM = 32, HIDDEN = 128, BATCH = 256;
constexpr float LR = 3e-3f, BETA1 = 0.9f, BETA2 = 0.999f, EPS = 1e-8f, DECAY = 0.01f;
constexpr int LOG_EVERY = 2000;  // the broken loop's first log line: a backlog of steps
constexpr int FIXED_STEPS = 300;

struct Model {
  std::vector<mx::array> params;  // embedding, w1, b1, w2, b2
};

struct AdamW {
  std::vector<mx::array> m, v;

  explicit AdamW(const std::vector<mx::array>& params) {
    for (const auto& p : params) {
      m.push_back(mx::zeros_like(p));
      v.push_back(mx::zeros_like(p));
    }
  }

  // builds the update lazily, like mlx-rs's Optimizer::update: nothing is evaluated here
  void update(Model& model, const std::vector<mx::array>& grads) {
    for (size_t i = 0; i < grads.size(); ++i) {
      m[i] = BETA1 * m[i] + (1.0f - BETA1) * grads[i];
      v[i] = BETA2 * v[i] + (1.0f - BETA2) * mx::square(grads[i]);
      auto& p = model.params[i];
      p = p * (1.0f - LR * DECAY) - LR * m[i] / (mx::sqrt(v[i]) + EPS);
    }
  }

  std::vector<mx::array> state() const {
    std::vector<mx::array> all(m);
    all.insert(all.end(), v.begin(), v.end());
    return all;
  }
};

Model make_model() {
  auto key = mx::random::key(0);
  auto keys = mx::random::split(key, 3);
  auto normal = [&](int i, mx::Shape shape, float scale) {
    return scale * mx::random::normal(shape, mx::float32, mx::take(keys, i, 0));
  };
  Model model{{normal(0, {VOCAB, DIM}, 1.0f), normal(1, {DIM, HIDDEN}, 1.0f / std::sqrt(DIM)),
               mx::zeros({HIDDEN}), normal(2, {HIDDEN, VOCAB}, 1.0f / std::sqrt(HIDDEN)),
               mx::zeros({VOCAB})}};
  mx::eval(model.params);
  return model;
}

// a token stream with structure to learn: mostly next = (5 * token + 3) mod VOCAB
struct Data {
  std::mt19937 rng{1};

  std::pair<mx::array, mx::array> batch() {
    std::vector<int> x(BATCH), y(BATCH);
    std::uniform_int_distribution<int> token(0, VOCAB - 1);
    std::uniform_real_distribution<float> coin(0.0f, 1.0f);
    for (int i = 0; i < BATCH; ++i) {
      x[i] = token(rng);
      y[i] = coin(rng) < 0.9f ? (5 * x[i] + 3) % VOCAB : token(rng);
    }
    return {mx::array(x.begin(), {BATCH}, mx::int32), mx::array(y.begin(), {BATCH}, mx::int32)};
  }
};

// inputs: the parameters, then x and y
std::vector<mx::array> loss_fn(const std::vector<mx::array>& in) {
  const auto &emb = in[0], &w1 = in[1], &b1 = in[2], &w2 = in[3], &b2 = in[4];
  const auto &x = in[5], &y = in[6];
  auto hidden = mx::tanh(mx::matmul(mx::take(emb, x, 0), w1) + b1);
  auto logits = mx::matmul(hidden, w2) + b2;
  auto picked = mx::take_along_axis(logits, mx::expand_dims(y, -1), -1);
  auto nll = mx::logsumexp(logits, -1, true) - picked;
  return {mx::mean(nll)};
}

mx::ValueAndGradFn make_value_and_grad() {
  return mx::value_and_grad(loss_fn, std::vector<int>{0, 1, 2, 3, 4});
}

std::pair<mx::array, std::vector<mx::array>> step_graph(const mx::ValueAndGradFn& vg,
                                                       Model& model, Data& data) {
  auto [x, y] = data.batch();
  std::vector<mx::array> in(model.params);
  in.push_back(x);
  in.push_back(y);
  auto [values, grads] = vg(in);
  return {values[0], grads};
}

void log_step(int step, int total, float loss) {
  std::printf("Step %d/%d | loss: %.4f\n", step, total, loss);
  std::fflush(stdout);
}

// The loops are kept out of line (noinline), so that stacks name them as a trainer's
// `training_step` would be named; nothing else about them changes.

// the correct loop; `recreate` builds value_and_grad again every step
[[gnu::noinline]] float train_fixed(Model& model, Data& data, int steps, bool recreate, float* first) {
  AdamW opt(model.params);
  auto vg = make_value_and_grad();
  float loss_val = 0.0f;
  for (int step = 1; step <= steps; ++step) {
    if (recreate) vg = make_value_and_grad();
    auto [loss, grads] = step_graph(vg, model, data);
    opt.update(model, grads);
    std::vector<mx::array> all{loss};
    all.insert(all.end(), model.params.begin(), model.params.end());
    for (auto& s : opt.state()) all.push_back(s);
    mx::eval(all);  // the fix: loss, parameters and optimizer state, once per step
    loss_val = loss.item<float>();
    if (step == 1) *first = loss_val;
    log_step(step, steps, loss_val);
  }
  return loss_val;
}

// the seed's loop: eval(loss) + item() each step, the update itself never evaluated
[[gnu::noinline]] float train_loss_eval(Model& model, Data& data, int steps, float* first) {
  AdamW opt(model.params);
  auto vg = make_value_and_grad();
  float loss_val = 0.0f;
  for (int step = 1; step <= steps; ++step) {
    auto [loss, grads] = step_graph(vg, model, data);
    mx::eval(loss);
    loss_val = loss.item<float>();
    if (step == 1) *first = loss_val;
    log_step(step, steps, loss_val);
    opt.update(model, grads);  // BUG (the report's): parameters and state never evaluated
  }
  return loss_val;
}

// no eval per step at all; the loss is logged every LOG_EVERY steps (the backlog runs there)
[[gnu::noinline]] float train_lazy(Model& model, Data& data, int steps, bool clear, float* first) {
  AdamW opt(model.params);
  auto vg = make_value_and_grad();
  float loss_val = 0.0f;
  for (int step = 1; step <= steps; ++step) {
    auto [loss, grads] = step_graph(vg, model, data);
    opt.update(model, grads);  // BUG: parameters and optimizer state never evaluated
    if (clear) {
      std::fprintf(stderr, "[DEBUG] Step %d: Clearing MLX cache\n", step);  // as the seed
      mx::clear_cache();  // the second report's "fix": frees cached buffers, not the graph
    }
    if (step % LOG_EVERY == 0 || step == steps) {
      loss_val = loss.item<float>();  // the first real evaluation: the whole backlog
      log_step(step, steps, loss_val);
    }
  }
  *first = loss_val;
  return loss_val;
}

}  // namespace

int main(int argc, char** argv) {
  std::string variant = argc > 1 ? argv[1] : "";
  bool lazy = variant == "broken" || variant == "clear-cache";
  int steps = argc > 2 ? std::atoi(argv[2]) : (lazy ? LOG_EVERY : FIXED_STEPS);
  if (steps < 1 || (!lazy && variant != "fixed" && variant != "recreate-vg" &&
                    variant != "broken-loss-eval")) {
    std::fprintf(stderr, "usage: native_step2 broken|broken-loss-eval|clear-cache|"
                         "recreate-vg|fixed [STEPS]\n");
    return 2;
  }
  Model model = make_model();
  Data data;
  float first = 0.0f, last = 0.0f;
  if (lazy) {
    last = train_lazy(model, data, steps, variant == "clear-cache", &first);
  } else if (variant == "broken-loss-eval") {
    last = train_loss_eval(model, data, steps, &first);
  } else {
    last = train_fixed(model, data, steps, variant == "recreate-vg", &first);
  }
  mx::eval(model.params);
  double checksum = 0.0;
  for (auto& p : model.params) checksum += mx::sum(mx::abs(p)).item<float>();
  // not a progress line (no loss in it): what runs with and without the interposer compare
  std::printf("params checksum: %.6f\n", checksum);
  return first > 0.0f && last > 0.0f ? 0 : 1;  // a loss logged: the loop ran
}
