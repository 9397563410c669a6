#pragma once
// Budget sweeps: the grid policies x budgets, one cell at a time, each cell's result a JSON file
// under DIR/cells/ (written atomically), so an interrupted sweep resumes where it stopped and
// shards on several machines (cell index modulo N) merge into one table.
//
// A cell runs the RDR evaluation (teacher-forced KL / top-1 / attention error / bytes of one
// policy at one budget on a reference text). The evaluation itself lives in core/metrics; the
// sweep only needs a CellRunner, so tests use a cheap one.
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace skv {

struct SweepSpec {
  std::string model;                 // model spec as given
  std::string model_identity;        // WeightSource::identity(), checked on resume and merge
  std::string model_name;            // ModelConfig::name ("SmolLM2-135M-Instruct")
  std::vector<std::string> policies;
  std::vector<double> budgets;       // fractions of the full fp16 cache
  std::string text;                  // reference text path (or "" when the runner has its own)
  nlohmann::json options = nlohmann::json::object();  // anything else the runner uses (tokens, ...)
};
nlohmann::json sweep_spec_to_json(const SweepSpec& s);
SweepSpec sweep_spec_from_json(const nlohmann::json& j);

struct SweepCell {
  int64_t index = 0;  // position in the grid, policy-major: stable for sharding
  std::string policy;
  double budget = 0;
  std::string file_name() const;  // "0003_rdr_b0.25.json"
};
std::vector<SweepCell> sweep_cells(const SweepSpec& spec);

// What a cell produces. metrics: scalar results (kl_mean, top1_agreement, bytes_read_per_step,
// resident_bytes, ...). per_layer: one object per layer ({"layer", "attn_rel_error",
// "resident_bytes", "bytes_read_per_step"}) for skv tune. series: optional per-step arrays.
struct CellResult {
  nlohmann::json metrics = nlohmann::json::object();
  nlohmann::json per_layer = nlohmann::json::array();
  nlohmann::json series = nlohmann::json::object();
};
using CellRunner = std::function<CellResult(const SweepCell&)>;

struct Shard {
  int index = 0, count = 1;
  bool owns(const SweepCell& c) const { return c.index % count == index; }
};
Shard parse_shard(const std::string& text);  // "i/N", 0 <= i < N

struct SweepProgress {
  int64_t done = 0, total = 0;  // cells of this shard finished (including skipped) / in the shard
  const SweepCell* cell = nullptr;
  bool skipped = false;         // already finished by an earlier run
  double elapsed_s = 0;
};

struct SweepRunStats {
  int64_t ran = 0, skipped = 0, not_in_shard = 0;
  bool cancelled = false;
};

// Runs every cell of `shard` that has no result in dir/cells yet. Writes dir/sweep.json the first
// time; a dir holding a different sweep (other model identity, text, ...) is refused.
SweepRunStats run_sweep(const std::filesystem::path& dir, const SweepSpec& spec, const Shard& shard,
                        const CellRunner& runner, const std::function<void(const SweepProgress&)>& progress = {},
                        const std::atomic<bool>* cancel = nullptr);

// Whether dir/cells holds a finished result for this cell.
bool cell_finished(const std::filesystem::path& dir, const SweepCell& cell);

struct SweepRow {
  std::string policy;
  double budget = 0;
  std::map<std::string, double> metrics;  // numeric metrics only
  nlohmann::json per_layer = nlohmann::json::array();
  nlohmann::json series = nlohmann::json::object();
};
struct SweepTable {
  SweepSpec spec;
  std::vector<SweepRow> rows;            // sorted by policy, then budget descending
  std::vector<std::string> missing;      // cells of the grid with no result
  std::vector<std::string> metric_names; // union of metric keys, sorted
  const SweepRow* find(const std::string& policy, double budget) const;
};

// Reads the results of one or more sweep directories (shards of one sweep); cells found twice
// must agree on the grid; specs must name the same model identity and text.
SweepTable merge_sweeps(const std::vector<std::filesystem::path>& dirs);
bool is_sweep_dir(const std::filesystem::path& dir);
// results.json (rows with per-layer data) and results.csv (policy, budget, metrics) in `out`.
void write_sweep_table(const std::filesystem::path& out, const SweepTable& table);

// "[#####.....] 12/40 rdr@0.25 ETA 3m10s" on one line, for stderr.
std::string progress_bar(const SweepProgress& p, int width = 30);

}  // namespace skv
