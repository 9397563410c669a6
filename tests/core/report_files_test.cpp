// Reports: every file is written, figures are PNGs of the requested size with real content
// (decoded here with stb_image), the HTML embeds them, the LaTeX table is booktabs.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <set>

#include "core/common/error.h"
#include "core/reports/plot.h"
#include "core/reports/raster.h"
#include "core/reports/report.h"
#include "core/sessions/atomic_file.h"
#include "core/sessions/session_recorder.h"

#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#include <stb/stb_image.h>

namespace fs = std::filesystem;
using namespace skv;

namespace {

fs::path fresh_dir(const std::string& name) {
  fs::path d = fs::path(SKV_TEST_TMP) / name;
  fs::remove_all(d);
  return d;
}

struct Decoded {
  int w = 0, h = 0;
  int64_t non_background = 0;
  int colors = 0;
};
Decoded decode_png(const fs::path& p) {
  auto bytes = read_file_bytes(p);
  Decoded d;
  int n = 0;
  unsigned char* px = stbi_load_from_memory(bytes.data(), static_cast<int>(bytes.size()), &d.w, &d.h, &n, 4);
  EXPECT_NE(px, nullptr) << p;
  if (!px) return d;
  const unsigned char* bg = px;  // the corner is the window background
  std::set<uint32_t> colors;
  for (int i = 0; i < d.w * d.h; ++i) {
    const unsigned char* q = px + 4 * i;
    if (std::abs(q[0] - bg[0]) + std::abs(q[1] - bg[1]) + std::abs(q[2] - bg[2]) > 24) ++d.non_background;
    if (colors.size() < 1000) colors.insert(q[0] << 16 | q[1] << 8 | q[2]);
  }
  d.colors = static_cast<int>(colors.size());
  stbi_image_free(px);
  return d;
}

Session make_session(const fs::path& dir) {
  Session h;
  h.model = {"tiny.json", "tiny", "random:seed=1", "", {}};
  h.config = {{"policy", "rdr"}, {"budget", "0.25"}};
  h.environment = capture_environment();
  h.string_tables["tiers/names"] = {"k4v4", "k2v2", "hot (fp16)", "dropped"};
  SessionRecorder r(dir, h, {0, 0});
  for (int s = 0; s < 40; ++s) {
    r.record("latency_ms", 10 + std::sin(s * 0.3), "ms");
    r.record("bytes_read_modeled", 1e6 + 2e4 * s, "bytes");
    r.record("resident_bytes", 2e6 + 1e4 * s, "bytes");
    r.record("kl", 0.01 + 0.001 * s, "nats");
    r.record("top1_agree", s % 7 ? 1 : 0);
    std::vector<float> err(4 * 6), shares(4 * 2 * 4);
    for (int k = 0; k < 24; ++k) err[k] = 0.01f * k + 0.001f * s;
    for (int k = 0; k < 32; ++k) shares[k] = (k % 4 + 1) / 10.0f;
    r.append_frame("heatmaps/attn_rel_error", NpyArray::from(err, {4, 6}), {"heatmap", "", "relative error"});
    r.append_frame("tiers/shares", NpyArray::from(shares, {4, 2, 4}), {"tier_shares", "", "shares"});
    std::vector<uint8_t> row(static_cast<std::size_t>(20 + s));
    for (std::size_t k = 0; k < row.size(); ++k) row[k] = k < 4 || k + 8 >= row.size() ? 2 : static_cast<uint8_t>((k + s) % 2);
    r.append_padded_row("tiers/image_L0_H0", row, 255, {"tier_image", "", "layer 0 kv head 0"});
    r.add_token(100 + s, "x");
    r.end_step();
  }
  r.finish();
  return r.session();
}

SweepTable make_sweep(const fs::path& dir) {
  SweepSpec s;
  s.model = "tiny.json";
  s.model_identity = "random:seed=1";
  s.model_name = "tiny";
  s.policies = {"rdr", "snapkv", "kivi_2"};
  s.budgets = {0.5, 0.25, 0.125};
  run_sweep(dir, s, {}, [](const SweepCell& c) {
    const double w = c.policy == "rdr" ? 1 : c.policy == "snapkv" ? 3 : 2;
    CellResult r;
    r.metrics = {{"kl_mean", w * 0.004 / c.budget}, {"top1_agreement", 1 - w * 0.01 / c.budget},
                 {"bytes_read_per_step", 3e6 * c.budget}, {"attn_rel_error_mean", w * 0.02 / c.budget}};
    for (int l = 0; l < 3; ++l) r.per_layer.push_back({{"layer", l}, {"attn_rel_error", 0.1 * (l + 1)}});
    return r;
  });
  return merge_sweeps({dir});
}

}  // namespace

TEST(ReportFiles, SessionAndSweepReportHasEveryFile) {
  const fs::path root = fresh_dir("report_all");
  make_session(root / "run1");
  make_sweep(root / "sweep1");
  ReportOptions o;
  o.style.width = 640;
  o.style.height = 400;
  ReportFiles f = write_report(std::vector<fs::path>{root / "run1", root / "sweep1"}, root / "out", o);
  EXPECT_TRUE(fs::exists(f.markdown));
  EXPECT_TRUE(fs::exists(f.html));
  EXPECT_TRUE(fs::exists(f.latex));
  // Session: latency, bytes, bandwidth, fidelity, heatmap, tier shares, tier image. Sweep: Pareto
  // curves for KL, top-1 and attention error.
  EXPECT_GE(f.figures.size(), 10u);
  for (const auto& p : f.figures) {
    Decoded d = decode_png(p);
    EXPECT_EQ(d.w, 640) << p;
    EXPECT_EQ(d.h, 400) << p;
    EXPECT_GT(d.non_background, 640 * 400 / 20) << p << " looks blank";
    EXPECT_GT(d.colors, 8) << p;
  }
  auto has_file = [&](const std::string& name) {
    for (const auto& p : f.figures)
      if (p.filename() == name) return true;
    for (const auto& p : f.csv)
      if (p.filename() == name) return true;
    return false;
  };
  EXPECT_TRUE(has_file("sweep1_pareto_kl_mean.png"));
  EXPECT_TRUE(has_file("run1_latency.png"));
  EXPECT_TRUE(has_file("run1_bandwidth.png"));
  EXPECT_TRUE(has_file("run1_heatmaps_attn_rel_error.png"));
  EXPECT_TRUE(has_file("run1_tiers_image_L0_H0.png"));
  EXPECT_TRUE(has_file("run1_series.csv"));
  EXPECT_TRUE(has_file("sweep1_results.csv"));
  EXPECT_TRUE(has_file("sweep1_per_layer.csv"));
  const std::string series = read_file_text(root / "out" / "csv" / "run1_series.csv");
  EXPECT_EQ(series.substr(0, series.find('\n')), "step,bytes_read_modeled,kl,latency_ms,resident_bytes,top1_agree");
  EXPECT_EQ(std::count(series.begin(), series.end(), '\n'), 41);
  const std::string html = read_file_text(f.html);
  EXPECT_NE(html.find("data:image/png;base64,iVBORw0KGgo"), std::string::npos);  // PNG magic in base64
  EXPECT_EQ(html.find("src=\"figures/"), std::string::npos) << "the HTML must stand alone";
  const std::string md = read_file_text(f.markdown);
  EXPECT_NE(md.find("](figures/sweep1_pareto_kl_mean.png)"), std::string::npos);
  EXPECT_NE(md.find("| rdr | 0.5 |"), std::string::npos);
  const std::string tex = read_file_text(f.latex);
  for (const char* k : {"\\toprule", "\\midrule", "\\bottomrule", "kivi\\_2", "\\addlinespace"})
    EXPECT_NE(tex.find(k), std::string::npos) << k;
}

TEST(ReportFiles, UnknownInputIsNamed) {
  const fs::path d = fresh_dir("report_bad");
  fs::create_directories(d / "nothing");
  try {
    write_report(std::vector<fs::path>{d / "nothing"}, d / "out");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("nothing is neither a session"), std::string::npos) << e.what();
  }
}

TEST(ReportFiles, RasterDrawsTextAndLines) {
  reports::Canvas c(200, 80, {15, 15, 15, 255});
  c.line(10, 10, 190, 70, reports::deep_color(0), 2);
  const auto& font = reports::Font::dejavu_sans();
  if (font.available()) {
    EXPECT_GT(font.text_width("Hello", 14), 20);
    font.draw(c, 10, 40, "Hello", 14, {255, 255, 255, 255});
  }
  int white = 0, blue = 0;
  for (int y = 0; y < 80; ++y)
    for (int x = 0; x < 200; ++x) {
      auto p = c.at(x, y);
      white += p.r > 200 && p.g > 200 && p.b > 200;
      blue += p.b > 150 && p.r < 100;
    }
  EXPECT_GT(blue, 100);
  if (font.available()) {
    EXPECT_GT(white, 20);
  }
  EXPECT_EQ(reports::base64({'M', 'a', 'n'}), "TWFu");
  EXPECT_EQ(reports::base64({'M', 'a'}), "TWE=");
}

TEST(ReportFiles, PerLayerBytesAndMeasuredOverModeledGetFiguresAndCsv) {
  // What skv record writes with --probe counters: per-step attention bytes (modeled, measured),
  // their ratio, and [steps, layers] arrays of the same.
  const fs::path root = fresh_dir("report_layers");
  Session h;
  h.model = {"tiny.json", "tiny", "random:seed=1", "", {}};
  h.environment = capture_environment();
  SessionRecorder r(root / "rec", h, {0, 0});
  for (int s = 0; s < 12; ++s) {
    r.record("latency_ms", 5 + 0.1 * s, "ms");
    r.record("attn_bytes_read_modeled", s == 0 ? NAN : 3e5 + 1e3 * s, "bytes", "MODELED");
    std::vector<double> layers = {1e5 + 10.0 * s, 1e5 + 20.0 * s, 1e5 + 30.0 * s};
    if (s == 0) layers = {NAN, NAN, NAN};
    r.append_frame("layers/attn_bytes_read_modeled", NpyArray::from(layers, {3}), {"layer_series", "bytes", "MODELED per layer"});
    r.end_step();
  }
  std::vector<double> measured(12), ratio(12);
  for (int s = 0; s < 12; ++s) {
    measured[s] = s == 0 ? NAN : (3e5 + 1e3 * s) * (1.0 + 0.001 * s);
    ratio[s] = s == 0 ? NAN : 1.0 + 0.001 * s;
  }
  r.put_array("series/attn_bytes_read_measured", NpyArray::from(measured), {"series", "bytes", "MEASURED"});
  r.put_array("series/attn_measured_over_modeled", NpyArray::from(ratio), {"series", "ratio", "measured / modeled"});
  r.finish();
  ReportOptions o;
  o.style.width = 480;
  o.style.height = 320;
  ReportFiles f = write_report(std::vector<fs::path>{root / "rec"}, root / "out", o);
  auto find = [&](const std::vector<fs::path>& v, const std::string& name) {
    for (const auto& p : v)
      if (p.filename() == name) return p;
    return fs::path();
  };
  for (const char* png : {"rec_layers_attn_bytes_read_modeled.png", "rec_measured_over_modeled.png", "rec_bytes.png"}) {
    const fs::path p = find(f.figures, png);
    ASSERT_FALSE(p.empty()) << png;
    Decoded d = decode_png(p);
    EXPECT_EQ(d.w, 480) << png;
    EXPECT_GT(d.non_background, 480 * 320 / 20) << png << " looks blank";
  }
  const fs::path c = find(f.csv, "rec_layers_attn_bytes_read_modeled.csv");
  ASSERT_FALSE(c.empty());
  const std::string text = read_file_text(c);
  EXPECT_EQ(text.substr(0, text.find('\n')), "step,L0,L1,L2");
  EXPECT_NE(text.find("\n0,,,\n"), std::string::npos) << "NaN cells are empty";
  EXPECT_NE(text.find("\n11,100110,100220,100330\n"), std::string::npos) << text;
}
