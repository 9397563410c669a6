// Sessions: every field survives a write/read round trip (and numpy reads the arrays), a recorder
// killed mid-run leaves a readable session, damaged manifests and arrays get one-line errors
// naming the file, and other format versions are read or refused by name.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "core/common/error.h"
#include "core/sessions/atomic_file.h"
#include "core/sessions/session.h"
#include "core/sessions/session_recorder.h"

namespace fs = std::filesystem;
using namespace skv;
using nlohmann::json;

namespace {

fs::path fresh_dir(const std::string& name) {
  fs::path d = fs::path(SKV_TEST_TMP) / name;
  fs::remove_all(d);
  fs::create_directories(d.parent_path());
  return d;
}

Session header() {
  Session s;
  s.config = {{"prompt", "hello"}, {"policy", "rdr"}, {"budget", 0.25}, {"probe", "timeline"}};
  s.model = {"tiny.json", "tiny", "random:seed=7", "", {{"n_layers", 2}}};
  s.environment = capture_environment();
  s.environment.device = "cpu (test)";
  s.environment.torch_version = "x.y";
  s.seed = 7;
  return s;
}

// Records `steps` deterministic steps with every kind of data the recorder takes.
void record_steps(SessionRecorder& r, int64_t from, int64_t steps) {
  const int L = 2, H = 3, T = 4;
  for (int64_t s = from; s < from + steps; ++s) {
    r.record("latency_ms", 1.0 + s, "ms", "decode step wall time");
    r.record("bytes_read_modeled", 1000.0 * (s + 1), "bytes");
    if (s % 2 == 0) r.record("kl", 0.01 * s, "nats");
    std::vector<float> err(L * H), shares(L * H * T);
    for (int k = 0; k < L * H; ++k) err[k] = static_cast<float>(s + 0.1 * k);
    for (int k = 0; k < L * H * T; ++k) shares[k] = static_cast<float>(k % T) / 6.0f;
    r.append_frame("heatmaps/attn_rel_error", NpyArray::from(err, {L, H}), {"heatmap", "", "rel error"});
    r.append_frame("tiers/shares", NpyArray::from(shares, {L, H, T}), {"tier_shares", "", "shares"});
    std::vector<uint8_t> row(static_cast<std::size_t>(s + 3));
    for (std::size_t k = 0; k < row.size(); ++k) row[k] = static_cast<uint8_t>(k % 4);
    r.append_padded_row("tiers/image_L0_H1", row, 255, {"tier_image", "", "layer 0 head 1"});
    r.add_token(static_cast<int32_t>(100 + s), "t" + std::to_string(s));
    std::vector<probes::Record> recs;
    probes::KernelRecord k;
    k.name.assign("attn_decode_kernel");
    k.start_ns = 1000 * s;
    k.end_ns = 1000 * s + 500;
    k.grid = {4, 2, 1};
    k.block = {128, 1, 1};
    k.step = s;
    k.layer = 1;
    recs.push_back(k);
    probes::CounterRecord c;
    c.step = s;
    c.range.assign("step " + std::to_string(s));
    c.dram_bytes_read = probes::MeasuredBytes(4096 * (s + 1));
    c.gpu_time_ns = 12.5;
    recs.push_back(c);
    recs.push_back(probes::SampleRecord{static_cast<uint64_t>(s), 1e9, 2e9});
    probes::ModeledBytesRecord m;
    m.step = s;
    m.layer = 0;
    m.kernel.assign("attn");
    m.modeled_bytes = probes::ModeledBytes(777);
    recs.push_back(m);
    probes::CpuTimingRecord t;
    t.step = s;
    t.what.assign("step");
    t.ns = 99;
    recs.push_back(t);
    r.add_probe_records(recs);
    r.end_step();
  }
}

void expect_sessions_equal(const Session& a, const Session& b) {
  EXPECT_EQ(a.format_version, b.format_version);
  EXPECT_EQ(a.config, b.config);
  EXPECT_EQ(a.model.spec, b.model.spec);
  EXPECT_EQ(a.model.name, b.model.name);
  EXPECT_EQ(a.model.identity, b.model.identity);
  EXPECT_EQ(a.model.file_hash, b.model.file_hash);
  EXPECT_EQ(a.model.config, b.model.config);
  EXPECT_EQ(a.environment.tool_version, b.environment.tool_version);
  EXPECT_EQ(a.environment.git_revision, b.environment.git_revision);
  EXPECT_EQ(a.environment.device, b.environment.device);
  EXPECT_EQ(a.environment.driver_version, b.environment.driver_version);
  EXPECT_EQ(a.environment.cuda_version, b.environment.cuda_version);
  EXPECT_EQ(a.environment.torch_version, b.environment.torch_version);
  EXPECT_EQ(a.environment.host, b.environment.host);
  EXPECT_EQ(a.environment.os, b.environment.os);
  EXPECT_EQ(a.seed, b.seed);
  EXPECT_EQ(a.steps, b.steps);
  EXPECT_EQ(a.complete, b.complete);
  EXPECT_EQ(a.summary, b.summary);
  EXPECT_EQ(a.statuses, b.statuses);
  EXPECT_EQ(a.string_tables, b.string_tables);
  ASSERT_EQ(a.arrays.size(), b.arrays.size());
  for (const auto& [name, arr] : a.arrays) {
    ASSERT_TRUE(b.has(name)) << name;
    EXPECT_EQ(arr, b.array(name)) << name;
    EXPECT_EQ(a.meta.at(name).kind, b.meta.at(name).kind) << name;
    EXPECT_EQ(a.meta.at(name).unit, b.meta.at(name).unit) << name;
    EXPECT_EQ(a.meta.at(name).description, b.meta.at(name).description) << name;
  }
}

std::string error_of(const fs::path& dir) {
  try {
    read_session(dir);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(SessionFormat, EveryFieldRoundTrips) {
  fs::path d = fresh_dir("session_roundtrip");
  SessionRecorder r(d, header(), {0, 0});
  r.set_prompt({1, 2, 3}, "hello");
  record_steps(r, 0, 5);
  r.add_status("info: recorded on a test");
  r.set_summary("decode_ms", 12.5);
  r.put_array("other/table", NpyArray::from(std::vector<int64_t>{1, 2, 3, 4}, {2, 2}), {"other", "", "a table"});
  r.finish();
  Session back = read_session(d);
  expect_sessions_equal(r.session(), back);
  EXPECT_TRUE(back.complete);
  EXPECT_EQ(back.steps, 5);
  EXPECT_EQ(back.generated_text(), "t0t1t2t3t4");
  EXPECT_EQ(back.array("tokens/piece_end").as<int64_t>(), (std::vector<int64_t>{2, 4, 6, 8, 10}));
  EXPECT_EQ(back.array("tiers/shares").shape, (std::vector<int64_t>{5, 2, 3, 4}));
  EXPECT_EQ(back.array("heatmaps/attn_rel_error").shape, (std::vector<int64_t>{5, 2, 3}));
  // The tier image widens as tokens arrive; earlier rows are padded.
  const NpyArray& img = back.array("tiers/image_L0_H1");
  EXPECT_EQ(img.shape, (std::vector<int64_t>{5, 7}));
  EXPECT_EQ(img.bytes[3], 255);
  EXPECT_EQ(img.bytes[4 * 7 + 6], 6 % 4);
  // A series set every other step reads NaN in between.
  auto kl = back.values("series/kl");
  EXPECT_DOUBLE_EQ(kl[2], 0.02);
  EXPECT_TRUE(std::isnan(kl[1]));
  EXPECT_EQ(back.string_tables.at("probe/kernel_names"), std::vector<std::string>{"attn_decode_kernel"});
  EXPECT_EQ(back.array("probe/kernels/grid_x").as<int32_t>()[0], 4);
  EXPECT_TRUE(std::isnan(back.values("probe/counters/l2_hit_rate_pct")[0]));
  EXPECT_EQ(back.array("probe/counters/dram_bytes_read").as<int64_t>()[4], 4096 * 5);
  EXPECT_EQ(back.array("probe/modeled/bytes").as<int64_t>()[0], 777);
}

TEST(SessionFormat, NumpyReadsEveryArrayOfTheManifest) {
  const fs::path python = fs::path(SKV_DEFAULT_VENV) / "bin" / "python";
  if (std::string(SKV_DEFAULT_VENV).empty() || !fs::exists(python) ||
      std::system(("'" + python.string() + "' -c 'import numpy' 2>/dev/null").c_str()) != 0)
    GTEST_SKIP() << "no python with numpy in the venv";
  fs::path d = fresh_dir("session_numpy");
  SessionRecorder r(d, header(), {0, 0});
  record_steps(r, 0, 6);
  r.finish();
  // numpy loads each array the manifest lists, checks dtype/shape, and dumps the raw bytes.
  std::ofstream(fs::path(SKV_TEST_TMP) / "session_numpy.py") << R"(import json, sys, os, numpy as np
d = sys.argv[1]
m = json.load(open(os.path.join(d, 'manifest.json')))
for name, e in m['arrays'].items():
    a = np.load(os.path.join(d, e['file']))
    assert str(a.dtype) == e['dtype'], (name, a.dtype)
    assert list(a.shape) == e['shape'], (name, a.shape)
    open(os.path.join(d, e['file'] + '.raw'), 'wb').write(a.tobytes())
)";
  ASSERT_EQ(std::system(("'" + python.string() + "' '" + (fs::path(SKV_TEST_TMP) / "session_numpy.py").string() + "' '" + d.string() + "'").c_str()), 0);
  Session back = read_session(d);
  for (const auto& [name, a] : back.arrays) {
    auto raw = read_file_bytes(d / (name + ".npy.raw"));
    EXPECT_EQ(raw, a.bytes) << name;
  }
}

TEST(SessionFormat, KilledRecorderLeavesReadableSession) {
  fs::path d = fresh_dir("session_killed");
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(ready[0]);
    try {
      SessionRecorder r(d, header(), {3, 0});
      for (int64_t s = 0;; ++s) {
        record_steps(r, s, 1);
        if (s == 20) {
          char c = 1;
          if (write(ready[1], &c, 1) != 1) _exit(3);
        }
      }
    } catch (...) {
      _exit(2);
    }
  }
  close(ready[1]);
  char c = 0;
  ASSERT_EQ(read(ready[0], &c, 1), 1);
  usleep(20000);  // let it autosave a few more times, then kill it mid-whatever
  kill(child, SIGKILL);
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status));
  Session s = read_session(d);
  EXPECT_FALSE(s.complete);
  EXPECT_GE(s.steps, 21);
  EXPECT_EQ(s.steps % 3, 0) << "the manifest commits whole autosaves";
  // Every array agrees with the manifest's step count, and the values are the recorded ones.
  EXPECT_EQ(s.array("series/latency_ms").shape[0], s.steps);
  EXPECT_EQ(s.array("tiers/shares").shape[0], s.steps);
  EXPECT_EQ(s.array("tokens/ids").shape[0], s.steps);
  EXPECT_EQ(s.array("probe/kernels/step").shape[0], s.steps);
  auto lat = s.values("series/latency_ms");
  for (int64_t k = 0; k < s.steps; ++k) EXPECT_DOUBLE_EQ(lat[k], 1.0 + k);
  EXPECT_EQ(s.array("tiers/image_L0_H1").shape, (std::vector<int64_t>{s.steps, s.steps + 2}));
}

TEST(SessionFormat, CorruptManifestNamesTheFile) {
  fs::path d = fresh_dir("session_corrupt");
  SessionRecorder r(d, header(), {0, 0});
  record_steps(r, 0, 2);
  r.finish();
  const std::string good = read_file_text(d / "manifest.json");
  write_file_atomic(d / "manifest.json", good.substr(0, good.size() / 2));
  std::string e = error_of(d);
  EXPECT_NE(e.find("manifest.json: corrupt or truncated JSON"), std::string::npos) << e;
  EXPECT_EQ(e.find('\n'), std::string::npos) << "one line: " << e;
  write_file_atomic(d / "manifest.json", std::string("[1, 2]"));
  EXPECT_NE(error_of(d).find("not an skv session manifest"), std::string::npos);
  write_file_atomic(d / "manifest.json", std::string(""));
  EXPECT_NE(error_of(d).find("manifest.json"), std::string::npos);
  fs::remove(d / "manifest.json");
  EXPECT_NE(error_of(d).find("manifest.json: no such file"), std::string::npos);
}

TEST(SessionFormat, TruncatedOrMissingArrayNamesTheFile) {
  fs::path d = fresh_dir("session_badarray");
  SessionRecorder r(d, header(), {0, 0});
  record_steps(r, 0, 4);
  r.finish();
  auto b = read_file_bytes(d / "series/latency_ms.npy");
  b.resize(b.size() - 3);
  write_file_atomic(d / "series/latency_ms.npy", b);
  std::string e = error_of(d);
  EXPECT_NE(e.find("latency_ms.npy: truncated"), std::string::npos) << e;
  // A valid file with fewer rows than the manifest says.
  npy_save(d / "series/latency_ms.npy", NpyArray::from(std::vector<double>{1, 2}));
  e = error_of(d);
  EXPECT_NE(e.find("latency_ms.npy: shape (2) is smaller than the manifest's (4)"), std::string::npos) << e;
  npy_save(d / "series/latency_ms.npy", NpyArray::from(std::vector<float>{1, 2, 3, 4}));
  EXPECT_NE(error_of(d).find("holds float32, the manifest says float64"), std::string::npos);
  fs::remove(d / "series/latency_ms.npy");
  EXPECT_NE(error_of(d).find("latency_ms.npy: missing"), std::string::npos);
}

TEST(SessionFormat, OtherVersionsAreRefusedNamingBoth) {
  fs::path d = fresh_dir("session_version");
  SessionRecorder r(d, header(), {0, 0});
  r.finish();
  json m = json::parse(read_file_text(d / "manifest.json"));
  m["format_version"] = kSessionFormatVersion + 1;
  write_file_atomic(d / "manifest.json", m.dump());
  std::string e = error_of(d);
  EXPECT_NE(e.find("version " + std::to_string(kSessionFormatVersion + 1)), std::string::npos) << e;
  EXPECT_NE(e.find("version " + std::to_string(kSessionFormatVersion) + ")"), std::string::npos) << e;
  m["format_version"] = 0;
  write_file_atomic(d / "manifest.json", m.dump());
  e = error_of(d);
  EXPECT_NE(e.find("version 0 is older"), std::string::npos) << e;
  EXPECT_NE(e.find(std::to_string(kOldestReadableSessionFormat)), std::string::npos) << e;
}

TEST(SessionFormat, ArrayNamesCannotEscapeTheDirectory) {
  EXPECT_THROW(validate_array_name("../x"), Error);
  EXPECT_THROW(validate_array_name("/abs"), Error);
  EXPECT_THROW(validate_array_name("a//b"), Error);
  EXPECT_NO_THROW(validate_array_name("series/kl_mean"));
}
