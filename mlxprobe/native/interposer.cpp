// mlxprobe's interposer: heartbeats from a compiled MLX program (C++, mlx-rs through mlx-c)
// without changing it. Loaded with LD_PRELOAD (DYLD_INSERT_LIBRARIES on macOS) by
// `mlxprobe watch`; it defines MLX's public entry points under their own (mangled) names,
// so the dynamic linker sends the program's calls (and libmlx's own calls through its PLT:
// `array::item()` -> `eval`) here first; each wrapper forwards
// to the real function (dlsym(RTLD_NEXT)) with the same arguments and returns its result.
//
//   eval, async_eval : each outermost call that ends is a step (source "eval"); one open
//                      for OPEN_AFTER_S is reported (eval_open, with the caller's symbol)
//
// Only these two: `value_and_grad` reaches its gradient through an internal `vjp` that libmlx
// calls directly (not through its PLT: measured with objdump on mlx 0.32.4), so no exported
// symbol marks "a gradient was taken", and an optimizer in mlx-rs is Rust over plain ops. A
// loop that never evaluates beats once, at its first real evaluation: that evaluation is
// then seen open (eval_open) and its stack taken, which is what such a loop has to show.
//
// Records are the Python bootstrap's (mlxprobe/protocol.py): start (source "interposer",
// stacks false: a native process is never sent the Python stack signal), mlx, step (with
// MLX's memory counters), eval_open; fast steps go out packed as `beats` lines
// (mlxprobe/packing.py), written by one writer thread every COALESCE_MS to the FIFO named in
// MLXPROBE_RECORD_PATH (or the fd in MLXPROBE_RECORD_FD). The program's thread only appends
// to a vector under a mutex. Without either variable, or in a process with no dynamic
// libmlx (a statically linked binary, a compiler child), every wrapper only forwards.
#include <cxxabi.h>
#include <dlfcn.h>
#include <link.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

constexpr const char* EVAL = "_ZN3mlx4core4evalESt6vectorINS0_5arrayESaIS2_EE";
constexpr const char* ASYNC_EVAL = "_ZN3mlx4core10async_evalESt6vectorINS0_5arrayESaIS2_EE";
constexpr const char* MEMORY[3] = {"_ZN3mlx4core17get_active_memoryEv",
                                   "_ZN3mlx4core15get_peak_memoryEv",
                                   "_ZN3mlx4core16get_cache_memoryEv"};
constexpr const char* VERSION = "_ZN3mlx4core7versionEv";
constexpr int COALESCE_MS = 50;
constexpr double OPEN_AFTER_S = 0.5;
constexpr size_t ROWS_PER_LINE = 24;  // a beats line stays well under PIPE_BUF (4096)

// `void eval(std::vector<array>)`: a by-value parameter of a type with a destructor is
// passed by invisible reference (the Itanium C++ ABI, x86-64 and arm64 alike): the caller
// builds the vector, passes its address and destroys it after the call. So the wrapper takes
// that address and hands the very same object to the real function: no MLX header, no
// array copied, moved or destroyed here.
using EvalFn = void (*)(void*);
using CounterFn = size_t (*)();

double wall_now() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

double mono_now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

struct Beat {
  double time, step_s;
  long step;
  const char* source;
  size_t memory[3];
};

struct State {
  bool active = false;
  int fd = -1;
  CounterFn counters[3] = {nullptr, nullptr, nullptr};
  std::mutex lock;
  std::condition_variable wake;
  std::vector<Beat> queued;
  std::vector<std::string> lines;  // other records, written after the steps queued before
  long steps = 0;
  double last = 0.0;
  std::atomic<double> open_since{0.0};  // wall time an outermost eval began; 0: none open
  std::atomic<void*> open_caller{nullptr};
  double reported = -1.0;
  bool stopping = false;
  std::thread writer;
};

State& state() {
  static State* s = new State();  // never destroyed: wrappers may run during exit
  return *s;
}

thread_local int eval_depth = 0;

// a loaded object's definition of `name` other than ours: libmlx loaded with RTLD_LOCAL (by
// Python's extension loader, say, under a native launcher such as bash or uv) is not in
// the global scope RTLD_NEXT searches, yet its callers still bind to our exported names
int find_local(struct dl_phdr_info* info, size_t, void* data) {
  auto* want = static_cast<std::pair<const char*, void*>*>(data);
  if (want->second != nullptr || info->dlpi_name == nullptr || !*info->dlpi_name) return 0;
  void* handle = dlopen(info->dlpi_name, RTLD_LAZY | RTLD_NOLOAD);
  if (handle == nullptr) return 0;
  void* found = dlsym(handle, want->first);
  Dl_info ours, theirs;  // our own library defines the name too: skip it
  if (found != nullptr && dladdr(reinterpret_cast<void*>(&find_local), &ours) != 0 &&
      dladdr(found, &theirs) != 0 && ours.dli_fbase != theirs.dli_fbase) {
    want->second = found;
  }
  dlclose(handle);
  return want->second != nullptr;
}

void* real(const char* name) {
  void* found = dlsym(RTLD_NEXT, name);
  if (found == nullptr) {
    std::pair<const char*, void*> want{name, nullptr};
    dl_iterate_phdr(find_local, &want);
    found = want.second;
  }
  if (found == nullptr) {
    std::fprintf(stderr, "mlxprobe interposer: %s not found in any loaded library\n", name);
    std::abort();
  }
  return found;
}

std::string escaped(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) continue;
    out += c;
  }
  return out;
}

void write_all(int fd, const std::string& line) {
  size_t done = 0;
  while (done < line.size()) {
    ssize_t n = ::write(fd, line.data() + done, line.size() - done);
    if (n <= 0) {
      state().fd = -1;  // the harness is gone: stop recording, keep running
      return;
    }
    done += static_cast<size_t>(n);
  }
}

std::string step_line(const Beat& b) {
  char buf[320];
  std::snprintf(buf, sizeof buf,
                "{\"kind\":\"step\",\"time\":%.6f,\"step\":%ld,\"step_s\":%.6f,\"source\":\"%s\","
                "\"memory\":{\"mx_active\":%zu,\"mx_peak\":%zu,\"mx_cache\":%zu}}\n",
                b.time, b.step, b.step_s, b.source, b.memory[0], b.memory[1], b.memory[2]);
  return buf;
}

std::string beats_line(const Beat* rows, size_t n) {
  std::string line =
      "{\"kind\":\"beats\",\"keys\":[\"time\",\"step\",\"step_s\",\"source\"],"
      "\"metrics\":null,\"memory\":[\"mx_active\",\"mx_peak\",\"mx_cache\"],\"n\":" +
      std::to_string(n) + ",\"same_at\":[],\"same\":[],\"values\":[";
  char buf[200];
  for (size_t i = 0; i < n; ++i) {
    const Beat& b = rows[i];
    std::snprintf(buf, sizeof buf, "%s%.6f,%ld,%.6f,\"%s\",%zu,%zu,%zu", i ? "," : "", b.time,
                  b.step, b.step_s, b.source, b.memory[0], b.memory[1], b.memory[2]);
    line += buf;
  }
  return line + "]}\n";
}

void write_steps(const std::vector<Beat>& beats) {
  State& s = state();
  if (beats.size() == 1) {
    write_all(s.fd, step_line(beats[0]));
    return;
  }
  for (size_t at = 0; at < beats.size() && s.fd >= 0; at += ROWS_PER_LINE) {
    size_t n = std::min(ROWS_PER_LINE, beats.size() - at);
    write_all(s.fd, beats_line(beats.data() + at, n));
  }
}

void report_open(State& s) {
  double since = s.open_since.load();
  if (since <= 0.0 || since == s.reported || wall_now() - since < OPEN_AFTER_S) return;
  s.reported = since;
  std::string where = "?";
  Dl_info info;
  void* caller = s.open_caller.load();
  if (caller != nullptr && dladdr(caller, &info) != 0) {
    where = info.dli_sname ? info.dli_sname : (info.dli_fname ? info.dli_fname : "?");
    int status = 0;
    char* plain = info.dli_sname ? abi::__cxa_demangle(info.dli_sname, nullptr, nullptr, &status)
                                 : nullptr;
    if (plain != nullptr) {
      where = plain;
      std::free(plain);
    }
  }
  char buf[128];
  std::snprintf(buf, sizeof buf, "{\"kind\":\"eval_open\",\"time\":%.6f,\"since\":%.6f,",
                wall_now(), since);
  s.lines.push_back(std::string(buf) + "\"where\":\"" + escaped(where) + "\"}\n");
}

// takes what is queued and writes it with the lock released
void drain(std::unique_lock<std::mutex>& held) {
  State& s = state();
  std::vector<Beat> beats;
  std::vector<std::string> lines;
  beats.swap(s.queued);
  lines.swap(s.lines);
  held.unlock();
  for (const auto& line : lines) {  // start, mlx, eval_open: each before the steps after it
    if (s.fd >= 0) write_all(s.fd, line);
  }
  if (s.fd >= 0 && !beats.empty()) write_steps(beats);
  held.lock();
}

void writing() {
  State& s = state();
  std::unique_lock<std::mutex> held(s.lock);
  while (!s.stopping && s.fd >= 0) {
    s.wake.wait_for(held, std::chrono::milliseconds(COALESCE_MS));
    report_open(s);
    drain(held);
  }
}

void emit(std::string line) {
  State& s = state();
  std::lock_guard<std::mutex> held(s.lock);
  s.lines.push_back(std::move(line));
}

void beat(const char* source) {
  State& s = state();
  Beat b{wall_now(), 0.0, 0, source, {0, 0, 0}};
  for (int i = 0; i < 3; ++i) b.memory[i] = s.counters[i] ? s.counters[i]() : 0;
  double now = mono_now();
  std::lock_guard<std::mutex> held(s.lock);
  b.step = ++s.steps;
  b.step_s = now - s.last;
  s.last = now;
  s.queued.push_back(b);
}

int record_fd() {
  if (const char* path = std::getenv("MLXPROBE_RECORD_PATH"); path && *path) {
    int fd = ::open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd >= 0) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    return fd;
  }
  if (const char* text = std::getenv("MLXPROBE_RECORD_FD"); text && *text) {
    return std::atoi(text);
  }
  return -1;
}

std::string argv_json() {
  std::string out = "[";
  FILE* f = std::fopen("/proc/self/cmdline", "rb");
  if (f == nullptr) return "[]";
  std::string arg;
  int c, count = 0;
  while ((c = std::fgetc(f)) != EOF && count < 16) {
    if (c != 0) {
      arg += static_cast<char>(c);
      continue;
    }
    out += (count++ ? ",\"" : "\"") + escaped(arg.substr(0, 200)) + "\"";
    arg.clear();
  }
  std::fclose(f);
  return out + "]";
}

void announce() {
  char buf[160];
  std::snprintf(buf, sizeof buf,
                "{\"kind\":\"start\",\"time\":%.6f,\"pid\":%d,\"stacks\":false,"
                "\"source\":\"interposer\",\"argv\":",
                wall_now(), static_cast<int>(getpid()));
  emit(buf + argv_json() + "}\n");
  auto version = reinterpret_cast<const char* (*)()>(dlsym(RTLD_DEFAULT, VERSION));
  std::string text = version ? version() : "unknown";
  std::snprintf(buf, sizeof buf, "{\"kind\":\"mlx\",\"time\":%.6f,\"mlx_version\":\"",
                wall_now());
  emit(buf + escaped(text) + "\",\"device\":\"native\"}\n");
}

__attribute__((constructor)) void start() {
  State& s = state();
  if (std::getenv("MLXPROBE_RECORD_PATH") == nullptr &&
      std::getenv("MLXPROBE_RECORD_FD") == nullptr) {
    return;
  }
  // a process with no dynamic libmlx (a compiler child, a static binary): forward only
  if (dlsym(RTLD_NEXT, EVAL) == nullptr) return;
  s.fd = record_fd();
  if (s.fd < 0) return;
  for (int i = 0; i < 3; ++i) {
    s.counters[i] = reinterpret_cast<CounterFn>(dlsym(RTLD_DEFAULT, MEMORY[i]));
  }
  s.last = mono_now();
  s.active = true;
  announce();
  s.writer = std::thread(writing);
  s.writer.detach();
}

__attribute__((destructor)) void stop() {
  State& s = state();
  if (!s.active) return;
  std::unique_lock<std::mutex> held(s.lock);
  s.stopping = true;
  drain(held);  // the steps still queued: written before the process ends
}

void eval_ended() {
  State& s = state();
  s.open_since.store(0.0);
  beat("eval");
}

void evaluating(const char* name, void* outputs, void* caller) {
  static EvalFn eval_fn = nullptr;
  static EvalFn async_fn = nullptr;
  EvalFn& fn = name == EVAL ? eval_fn : async_fn;
  if (fn == nullptr) fn = reinterpret_cast<EvalFn>(real(name));
  State& s = state();
  if (!s.active || eval_depth > 0) {
    ++eval_depth;
    struct Leave { ~Leave() { --eval_depth; } } leave;
    fn(outputs);
    return;
  }
  ++eval_depth;
  s.open_caller.store(caller);
  s.open_since.store(wall_now());
  struct Leave { ~Leave() { --eval_depth; eval_ended(); } } leave;
  fn(outputs);
}

[[gnu::always_inline]] inline void wrapped_eval(void* outputs) {  // inlined: its caller is MLX's
  evaluating(EVAL, outputs, __builtin_return_address(0));
}

[[gnu::always_inline]] inline void wrapped_async_eval(void* outputs) {
  evaluating(ASYNC_EVAL, outputs, __builtin_return_address(0));
}

#if defined(__APPLE__)
// macOS: dyld's interposing table ({replacement, replacee}); DYLD_INSERT_LIBRARIES alone does
// not override a symbol bound to its library (two-level namespace). The replacees are weak
// imports: in a process with no libmlx they are null and nothing is interposed.
// NOT VERIFIED: no Mac was available to this project (Linux is tested).
extern "C" {
__attribute__((weak_import)) void _ZN3mlx4core4evalESt6vectorINS0_5arrayESaIS2_EE(void*);
__attribute__((weak_import)) void _ZN3mlx4core10async_evalESt6vectorINS0_5arrayESaIS2_EE(void*);
}
struct Interpose {
  const void* replacement;
  const void* replacee;
};
__attribute__((used, section("__DATA,__interpose"))) const Interpose INTERPOSED[] = {
    {reinterpret_cast<const void*>(&wrapped_eval),
     reinterpret_cast<const void*>(&_ZN3mlx4core4evalESt6vectorINS0_5arrayESaIS2_EE)},
    {reinterpret_cast<const void*>(&wrapped_async_eval),
     reinterpret_cast<const void*>(&_ZN3mlx4core10async_evalESt6vectorINS0_5arrayESaIS2_EE)},
};
#endif

}  // namespace

#if !defined(__APPLE__)
// Linux: the exported names themselves (mangled, checked against libmlx's with
// nm -D | c++filt); LD_PRELOAD puts them ahead of libmlx's in every lookup
extern "C" {

__attribute__((visibility("default"))) void _ZN3mlx4core4evalESt6vectorINS0_5arrayESaIS2_EE(
    void* outputs) {
  wrapped_eval(outputs);
}

__attribute__((visibility("default"))) void
_ZN3mlx4core10async_evalESt6vectorINS0_5arrayESaIS2_EE(void* outputs) {
  wrapped_async_eval(outputs);
}

}  // extern "C"
#endif
