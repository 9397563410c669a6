#include "studio_test_support.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

namespace skv::studio::test {
namespace fs = std::filesystem;
namespace {

// Live runs record sessions under $XDG_DATA_HOME/skv-studio/sessions: keep the tests' out of the
// user's folder (set before any test starts a run).
const bool g_data_home_set = [] {
  setenv("XDG_DATA_HOME", (fs::path(SKV_TEST_TMP) / "data").c_str(), 1);
  return true;
}();

pid_t g_xvfb = -1;

void stop_xvfb() {
  if (g_xvfb > 0) {
    kill(g_xvfb, SIGTERM);
    waitpid(g_xvfb, nullptr, 0);
    g_xvfb = -1;
  }
}

}  // namespace

std::string ensure_display() {
  if (const char* d = std::getenv("DISPLAY"); d && *d) return {};
  int fds[2];
  if (pipe(fds) != 0) return "pipe failed";
  const pid_t pid = fork();
  if (pid < 0) return "fork failed";
  if (pid == 0) {
    close(fds[0]);
    prctl(PR_SET_PDEATHSIG, SIGTERM);  // no orphaned X server when the test binary is killed
    const std::string fd = std::to_string(fds[1]);
    const int devnull = open("/dev/null", O_WRONLY);
    if (devnull >= 0) dup2(devnull, 2);
    // -displayfd: Xvfb picks a free display number and writes it to the pipe when ready.
    execlp("Xvfb", "Xvfb", "-displayfd", fd.c_str(), "-screen", "0", "1920x1200x24", "-nolisten", "tcp", "+extension", "GLX",
           static_cast<char*>(nullptr));
    _exit(127);
  }
  close(fds[1]);
  std::string number;
  char c;
  while (read(fds[0], &c, 1) == 1 && c != '\n') number += c;
  close(fds[0]);
  if (number.empty()) {
    waitpid(pid, nullptr, 0);
    return "Xvfb did not start (install xvfb, or set DISPLAY)";
  }
  g_xvfb = pid;
  std::atexit(stop_xvfb);
  setenv("DISPLAY", (":" + number).c_str(), 1);
  return {};
}

std::string screenshot_dir() {
  const fs::path dir = fs::path(SKV_BINARY_DIR) / "screenshots";
  std::error_code ec;
  fs::create_directories(dir, ec);
  return dir.string();
}

std::string tiny_model_json() {
  const fs::path dir = fs::path(SKV_TEST_TMP);
  std::error_code ec;
  fs::create_directories(dir, ec);
  const fs::path path = dir / "studio_tiny_model.json";
  // ctest runs the tests in parallel processes that all use this file: each writes its own copy and
  // renames it into place (atomic), so no reader sees another's half-written file (a plain rewrite
  // in place made a parallel test read an empty file: "not valid JSON").
  const fs::path tmp = dir / ("studio_tiny_model.json." + std::to_string(getpid()) + ".tmp");
  {
    std::ofstream out(tmp);
    out << R"({"name": "tiny-studio-test", "model_type": "llama", "hidden_size": 256,
    "intermediate_size": 512, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
    "head_dim": 64, "vocab_size": 300, "max_position_embeddings": 1024, "rms_norm_eps": 1e-05,
    "rope_theta": 10000.0, "tie_word_embeddings": true})";
  }
  fs::rename(tmp, path);
  return path.string();
}

PixelStats pixel_stats(const std::vector<uint8_t>& rgba, int width, int height, int x, int y, int w, int h) {
  PixelStats s;
  x = std::clamp(x, 0, width);
  y = std::clamp(y, 0, height);
  w = std::clamp(w, 0, width - x);
  h = std::clamp(h, 0, height - y);
  if (w == 0 || h == 0) return s;
  double sum = 0, sum2 = 0;
  std::map<uint32_t, int> colors;
  for (int j = y; j < y + h; ++j)
    for (int i = x; i < x + w; ++i) {
      const uint8_t* p = &rgba[(static_cast<size_t>(j) * width + i) * 4];
      const double l = 0.2126 * p[0] + 0.7152 * p[1] + 0.0722 * p[2];
      sum += l;
      sum2 += l * l;
      ++colors[(p[0] >> 4) << 8 | (p[1] >> 4) << 4 | (p[2] >> 4)];
    }
  const double n = static_cast<double>(w) * h;
  s.mean_luma = sum / n;
  s.stddev_luma = std::sqrt(std::max(0.0, sum2 / n - s.mean_luma * s.mean_luma));
  s.distinct_colors = static_cast<int>(colors.size());
  int most = 0;
  for (auto [c, k] : colors) most = std::max(most, k);
  s.non_background = 1.0 - most / n;
  return s;
}

std::vector<uint8_t> crop(const std::vector<uint8_t>& rgba, int width, int x, int y, int w, int h) {
  std::vector<uint8_t> out(static_cast<size_t>(w) * h * 4);
  for (int j = 0; j < h; ++j)
    std::copy_n(&rgba[(static_cast<size_t>(y + j) * width + x) * 4], static_cast<size_t>(w) * 4, &out[static_cast<size_t>(j) * w * 4]);
  return out;
}

}  // namespace skv::studio::test
