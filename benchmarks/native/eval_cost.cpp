// eval_cost N: times N calls of mlx::core::eval on a one-op graph (a 4-element add), each
// call alone, and prints "median_us MEDIAN mean_us MEAN". Run with and without the
// interposer (benchmarks/bench_interposer.py): the difference is the interposer's cost per
// evaluation, which a training step pays once.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <vector>

#include "mlx/mlx.h"

namespace mx = mlx::core;

int main(int argc, char** argv) {
  int n = argc > 1 ? std::atoi(argv[1]) : 20000;
  auto x = mx::ones({4});
  mx::eval(x);
  std::vector<double> took;
  took.reserve(n);
  for (int i = 0; i < n; ++i) {
    auto y = x + 1.0f;
    auto start = std::chrono::steady_clock::now();
    mx::eval(y);
    took.push_back(std::chrono::duration<double, std::micro>(
                       std::chrono::steady_clock::now() - start).count());
  }
  double mean = std::accumulate(took.begin(), took.end(), 0.0) / n;
  std::nth_element(took.begin(), took.begin() + n / 2, took.end());
  std::printf("median_us %.3f mean_us %.3f\n", took[n / 2], mean);
  return 0;
}
