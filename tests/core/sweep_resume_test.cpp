// Sweeps: an interrupted sweep resumed gives the same table as an uninterrupted one, shards
// merge into the whole grid, other sweeps in the same directory are refused; budget profiles are
// tuned from per-layer results with a known answer and round-trip through their JSON.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "core/common/error.h"
#include "core/sessions/atomic_file.h"
#include "core/sessions/budget_profile.h"
#include "core/sessions/sweep.h"

namespace fs = std::filesystem;
using namespace skv;
using nlohmann::json;

namespace {

fs::path fresh_dir(const std::string& name) {
  fs::path d = fs::path(SKV_TEST_TMP) / name;
  fs::remove_all(d);
  return d;
}

SweepSpec spec() {
  SweepSpec s;
  s.model = "tiny.json";
  s.model_identity = "random:tiny#seed0";
  s.model_name = "tiny";
  s.policies = {"rdr", "snapkv", "kivi2"};
  s.budgets = {0.5, 0.25, 0.125};
  s.text = "prose.txt";
  s.options = {{"steps", 8}};
  return s;
}

// A cheap deterministic cell: KL grows as the budget shrinks; 4 layers whose errors differ.
CellResult fake_cell(const SweepCell& c) {
  const double weight = c.policy == "rdr" ? 1.0 : c.policy == "snapkv" ? 2.0 : 3.0;
  CellResult r;
  r.metrics = {{"kl_mean", weight * 0.01 / c.budget}, {"top1_agreement", 1.0 - 0.05 / c.budget * weight / 10},
               {"bytes_read_per_step", 1e6 * c.budget}, {"resident_bytes", 4e6 * c.budget}};
  for (int l = 0; l < 4; ++l) r.per_layer.push_back({{"layer", l}, {"attn_rel_error", (l + 1) * 0.1 / c.budget}});
  return r;
}

json strip_times(json j) {
  j.erase("elapsed_s");
  j.erase("finished_utc");
  return j;
}

}  // namespace

TEST(SweepResume, InterruptedAndResumedEqualsUninterrupted) {
  const fs::path full = fresh_dir("sweep_full"), cut = fresh_dir("sweep_cut");
  auto stats = run_sweep(full, spec(), {}, fake_cell);
  EXPECT_EQ(stats.ran, 9);
  // Interrupted: the runner dies at the 5th cell (as a killed process would, mid-cell).
  int calls = 0;
  CellRunner dying = [&](const SweepCell& c) {
    if (++calls == 5) throw Error("simulated crash");
    return fake_cell(c);
  };
  EXPECT_THROW(run_sweep(cut, spec(), {}, dying), Error);
  int resumed_calls = 0;
  std::vector<int64_t> progress_done;
  auto again = run_sweep(cut, spec(), {}, [&](const SweepCell& c) { ++resumed_calls; return fake_cell(c); },
                         [&](const SweepProgress& p) { progress_done.push_back(p.done); });
  EXPECT_EQ(again.skipped, 4);
  EXPECT_EQ(again.ran, 5);
  EXPECT_EQ(resumed_calls, 5);
  EXPECT_EQ(progress_done.back(), 9);
  // Same cells, same contents.
  for (const auto& c : sweep_cells(spec())) {
    auto a = json::parse(read_file_text(full / "cells" / c.file_name()));
    auto b = json::parse(read_file_text(cut / "cells" / c.file_name()));
    EXPECT_EQ(strip_times(a), strip_times(b)) << c.file_name();
  }
  SweepTable ta = merge_sweeps({full}), tb = merge_sweeps({cut});
  ASSERT_EQ(ta.rows.size(), 9u);
  ASSERT_EQ(tb.rows.size(), 9u);
  for (std::size_t k = 0; k < ta.rows.size(); ++k) {
    EXPECT_EQ(ta.rows[k].policy, tb.rows[k].policy);
    EXPECT_EQ(ta.rows[k].budget, tb.rows[k].budget);
    EXPECT_EQ(ta.rows[k].metrics, tb.rows[k].metrics);
  }
  EXPECT_TRUE(ta.missing.empty());
  // A finished sweep reruns nothing.
  auto none = run_sweep(full, spec(), {}, [](const SweepCell&) -> CellResult { throw Error("must not run"); });
  EXPECT_EQ(none.skipped, 9);
}

TEST(SweepResume, ShardsMergeIntoTheWholeGrid) {
  const fs::path a = fresh_dir("sweep_shard0"), b = fresh_dir("sweep_shard1"), c = fresh_dir("sweep_shard2");
  auto s0 = run_sweep(a, spec(), parse_shard("0/3"), fake_cell);
  EXPECT_EQ(run_sweep(b, spec(), parse_shard("1/3"), fake_cell).ran, 3);
  EXPECT_EQ(s0.ran, 3);
  EXPECT_EQ(s0.not_in_shard, 6);
  SweepTable partial = merge_sweeps({a, b});
  EXPECT_EQ(partial.rows.size(), 6u);
  EXPECT_EQ(partial.missing.size(), 3u);
  run_sweep(c, spec(), parse_shard("2/3"), fake_cell);
  SweepTable t = merge_sweeps({a, b, c});
  EXPECT_EQ(t.rows.size(), 9u);
  EXPECT_TRUE(t.missing.empty());
  EXPECT_EQ(t.rows.front().policy, "rdr");
  EXPECT_EQ(t.rows.front().budget, 0.5);
  EXPECT_DOUBLE_EQ(t.find("kivi2", 0.125)->metrics.at("kl_mean"), 3 * 0.01 / 0.125);
  write_sweep_table(a, t);
  EXPECT_TRUE(fs::exists(a / "results.json"));
  const std::string csv = read_file_text(a / "results.csv");
  EXPECT_EQ(csv.substr(0, csv.find('\n')), "policy,budget,bytes_read_per_step,kl_mean,resident_bytes,top1_agreement");
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 10);
}

TEST(SweepResume, RefusesAnotherSweepInTheSameDirectory) {
  const fs::path d = fresh_dir("sweep_other");
  run_sweep(d, spec(), parse_shard("0/9"), fake_cell);
  SweepSpec other = spec();
  other.model_identity = "gguf:other#1234";
  try {
    run_sweep(d, other, {}, fake_cell);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("use another --out"), std::string::npos) << e.what();
  }
  other = spec();
  other.budgets = {0.5};
  EXPECT_THROW(run_sweep(d, other, {}, fake_cell), Error);
}

TEST(SweepResume, ShardSyntax) {
  EXPECT_EQ(parse_shard("2/4").index, 2);
  EXPECT_EQ(parse_shard("2/4").count, 4);
  EXPECT_THROW(parse_shard("4/4"), Error);
  EXPECT_THROW(parse_shard("1"), Error);
  EXPECT_THROW(parse_shard("a/2"), Error);
  EXPECT_THROW(parse_shard("1/2x"), Error);
}

TEST(SweepResume, ProgressBarShowsCountAndCell) {
  SweepCell c{3, "rdr", 0.25};
  SweepProgress p{2, 8, &c, false, 10.0};
  const std::string bar = progress_bar(p, 8);
  EXPECT_NE(bar.find("[##......] 2/8 rdr@0.25"), std::string::npos) << bar;
  EXPECT_NE(bar.find("ETA 30s"), std::string::npos) << bar;
}

TEST(BudgetProfileTune, LayersWithLittleErrorGetSmallerBudgets) {
  // Two budgets, four layers; layer l's error share grows with l. kl_l(b) = KL(b) * e_l^2 / sum e^2.
  // At b=0.5: KL 0.02, shares 1,4,9,16 /30. At b=0.125: KL 0.08, same shares.
  SweepTable t;
  t.spec = spec();
  for (double b : {0.5, 0.125}) {
    SweepCell c{0, "rdr", b};
    CellResult r = fake_cell(c);
    SweepRow row{"rdr", b, {}, r.per_layer, json::object()};
    row.metrics["kl_mean"] = b == 0.5 ? 0.02 : 0.08;
    t.rows.push_back(row);
  }
  TuneOptions o;
  o.target_kl = 0.04;
  BudgetProfile p = tune_budget_profile(t, o);
  // Cheapest feasible: layers 0-2 at 0.125 (0.08 * 14/30 = 0.0373) and layer 3 at 0.5
  // (0.02 * 16/30 = 0.0107): 0.048 > 0.04. Layers 0,1 at 0.125 (0.08*5/30 = 0.0133) + 2,3 at 0.5
  // (0.02*25/30 = 0.0167) = 0.030 fits; layers 0,1,3 low is 0.08*21/30 = 0.056 + ... does not.
  EXPECT_EQ(p.layer_budgets, (std::vector<double>{0.125, 0.125, 0.5, 0.5}));
  EXPECT_NEAR(p.predicted_kl, 0.08 * 5 / 30 + 0.02 * 25 / 30, 1e-3);
  EXPECT_LE(p.predicted_kl, o.target_kl);
  EXPECT_EQ(p.uniform_budget, 0.5);
  EXPECT_NEAR(p.predicted_bytes_vs_uniform, (0.125 * 2 + 0.5 * 2) / 2.0, 1e-12);
  auto shares = p.layer_shares();
  EXPECT_NEAR(shares[0] + shares[1] + shares[2] + shares[3], 1.0, 1e-12);
  // Round trip through the file.
  const fs::path f = fresh_dir("profile") / "tiny.json";
  save_budget_profile(f, p);
  BudgetProfile back = read_budget_profile(f);
  EXPECT_EQ(back.layer_budgets, p.layer_budgets);
  EXPECT_EQ(back.policy, "rdr");
  EXPECT_EQ(back.model, "tiny");
  EXPECT_DOUBLE_EQ(back.target_kl, 0.04);
  EXPECT_EQ(json::parse(read_file_text(f))["layer_shares"].size(), 4u);
  EXPECT_THROW(back.layer_budget(4), Error);
  // A target nothing meets is an error that says what is reachable.
  o.target_kl = 0.001;
  try {
    tune_budget_profile(t, o);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("lowest estimate is 0.02"), std::string::npos) << e.what();
  }
}

TEST(BudgetProfileTune, MalformedProfilesAreRefusedByName) {
  const fs::path d = fresh_dir("profile_bad");
  fs::create_directories(d);
  write_file_atomic(d / "p.json", std::string("{\"format\": \"skv-budget-profile\", \"format_version\": 1, \"layer_budgets\": [0.5, 1.5]}"));
  try {
    read_budget_profile(d / "p.json");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("p.json: layer 1 budget"), std::string::npos) << e.what();
  }
  write_file_atomic(d / "p.json", std::string("{\"format\": \"skv-budget-profile\", \"format_version\": 9, \"layer_budgets\": [0.5]}"));
  EXPECT_THROW(read_budget_profile(d / "p.json"), Error);
  write_file_atomic(d / "p.json", std::string("{\"format\": "));
  EXPECT_THROW(read_budget_profile(d / "p.json"), Error);
}
