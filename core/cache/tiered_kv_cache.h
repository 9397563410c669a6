#pragma once
// The RDR cache (SPHERICAL_KV.md section 2): per (layer, kv head) a list of tier-homogeneous pages
// in one arena per layer (the kernels' PagedKv / PageInfo / TierTable, CSR indptr / indices), and
// an fp16 hot window holding the sink tokens and the newest tokens. A RetentionPolicy decides at
// every re-tiering which tier each older token goes to (or drop); the prefill runs exact and the
// first re-tiering happens at the first decode step.
//
// Attention of a query = exact softmax over {sealed pages (ADA LUT-scored logits from the kernels'
// CPU reference, coded values decoded), hot window (fp16), optional feature-map completion of
// dropped tokens} with one max and one normalization: the log-sum-exp merge of the three parts.
//
// Bytes (resident_bytes): hot tokens at 4 d bytes per (layer, head) token, every page at its
// tier's accounted bytes + its page-table entry (kPageMetaBytes), the Hadamard signs (d bytes per
// head) and the completion summaries (float32). Budget: bytes, or a fraction of the full fp16 cache
// of the tokens held (2 * 2 * d bytes per token, layer and head).
#include <memory>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "core/cache/cache_tier.h"
#include "core/codecs/rotation_signs.h"
#include "core/decoder/attention_backend.h"
#include "core/policies/retention_policy.h"
#include "kernels/ada_attention.h"
#include "kernels/page_table.h"

namespace skv {

struct CacheBudget {
  double bytes = 0;     // > 0: a fixed byte budget
  double fraction = 0;  // > 0: a fraction of the full fp16 cache of the tokens held
  bool unlimited() const { return bytes <= 0 && fraction <= 0; }
  double at(double full_fp16_bytes) const;  // the budget in bytes when the full cache is that big
  // "0.25", "25%", "12MB", "4096" (bytes), "1.5GiB".
  static CacheBudget parse(const std::string& text);
  std::string describe() const;
};

struct TieredCacheOptions {
  std::string tiers = "default_set";  // page tiers (load_cache_tiers); the policy's tier_spec wins
  int64_t hot_window = 32;            // newest tokens kept fp16 (W)
  int64_t sink_tokens = 4;            // first tokens kept fp16 (attention sinks)
  int64_t retier_every = 64;          // re-tiering period in decode steps (R)
  int64_t obs_window = 32;            // queries kept for observation-window utilities (SnapKV)
  uint64_t seed = codecs::kDefaultRotationSeed;
  CacheBudget budget;
  bool lut_scoring = true;            // ADA LUT logits; false: dot products with decoded keys
  bool track_errors = false;          // per (layer, q head) attention error vs exact attention
  std::string completion;             // "" (policy decides), "off", "prf"
  int completion_features = 64;       // positive random features per head
  // Which code attends on decode steps (T = 1) of policy "ada" on a CUDA device:
  //   auto       the ADA CUDA kernels over a device-resident staged table (sealed pages + the hot
  //              window as fp16 pages), falling back to the CPU reference code when the kernels
  //              reject the tiers (the reason is in attention_path())
  //   cuda       the CUDA kernels, or an error when they cannot run
  //   reference  the CPU reference code on every device
  // Other policies (re-tiering utilities, page selection, completion) always use the CPU code.
  std::string attention = "auto";
};

struct ResidentBytes {
  double total = 0, hot = 0, pages = 0, fixed = 0;
  // [layer][kv head][tier id, then one more slot for the hot window]
  std::vector<std::vector<std::vector<double>>> by_head_tier;
};

class TieredKvCache : public AttentionBackend {
 public:
  TieredKvCache(TieredCacheOptions options, std::shared_ptr<RetentionPolicy> policy);

  void reset(const ModelConfig& config, int64_t batch, int64_t capacity, const at::Device& device) override;
  at::Tensor attend(const AttentionCall& call) override;
  int64_t cached_tokens() const override { return length_; }
  std::string name() const override;

  // Runs the policy now over every token held (normally done at the first decode step and every
  // retier_every steps after it, or when the cache is over budget).
  void retier();
  // Takes over the state of `source` after its prefill (it must not be compressed yet and must
  // hold the same model shape): every policy of a comparison starts from one shared prefill.
  void adopt_prefill(const TieredKvCache& source);
  bool compressed() const { return compressed_; }
  int64_t retier_count() const { return retier_count_; }

  ResidentBytes resident_bytes() const;
  double full_fp16_bytes() const;           // of the tokens held now
  double budget_bytes() const;              // of the tokens held now (infinity when unlimited)
  double last_step_read_bytes() const { return read_bytes_; }  // modeled, all layers, last decode step
  const std::vector<CacheTier>& tiers() const { return tiers_; }
  const RetentionPolicy& policy() const { return *policy_; }

  // Tier of every position of a layer: [Hkv, N] int32 (kHotTier, kDropTier or a tier id).
  at::Tensor tier_map(int64_t layer) const;
  // The paged view of a layer's sealed pages (host pointers, valid until the next re-tiering).
  kernels::PagedKv paged_view(int64_t layer) const;
  // The pages the layer's last attention call read: paged_view() for every policy but the
  // query-aware ones (Quest page Top-K), whose view lists only the pages selected for that query
  // (per kv head, over the group's queries). Host pointers, valid until the layer's next call.
  kernels::PagedKv read_view(int64_t layer) const;
  // A layer's sealed pages plus its hot window (sinks and newest tokens, fp16) as fp16 pages of one
  // more tier, in one host page table: everything a decode step attends to, as the kernels read it
  // (kernels::cpu / CUDA ada_decode_attention). Pointers into a staging buffer of the cache, valid
  // until the next staged_view() call.
  kernels::PagedKv staged_view(int64_t layer);
  // Which code attended the last decode step: "cuda kernels", "cpu reference", or "cpu reference
  // (CUDA kernels unavailable: <why>)".
  std::string attention_path() const;
  // CUDA path: decode calls (layer steps) it served, and whole-arena uploads among them (one per
  // layer after each re-tiering; the other calls write only their new rows on the device).
  int64_t cuda_calls() const { return dev_.steps; }
  int64_t cuda_arena_uploads() const { return dev_.uploads; }
  // Prefill calls that ran on the GPU's dense fp16 cache (the CUDA path's prefill).
  int64_t cuda_prefill_calls() const { return dev_.prefill_calls; }
  int64_t cuda_encoded_pages() const { return dev_.gpu_encoded_pages; }
  // Bytes the layer's last call read to select its pages (page bounds, skipped pages' summaries).
  double read_selection_bytes(int64_t layer) const;
  // Decoded sealed keys/values of (layer, head) and their positions (explicit decode, for tests).
  at::Tensor sealed_keys(int64_t layer, int64_t head) const;
  at::Tensor sealed_values(int64_t layer, int64_t head) const;
  at::Tensor sealed_positions(int64_t layer, int64_t head) const;
  // sqrt(sum |o - o^|^2 / sum |o|^2) per (layer, q head) over the decode steps since reset,
  // o = exact attention over the full-precision keys/values of the same run. [L, Hq] float64.
  at::Tensor attention_error() const;

 private:
  struct HeadState {
    std::vector<int32_t> pages;          // page ids, sorted by first position
    at::Tensor kdec, vdec;               // [ns, d] decoded keys/values of the sealed tokens
    at::Tensor pos;                      // [ns] int64
    std::vector<int64_t> page_row;       // first row of each page in kdec
    at::Tensor page_kmin, page_kmax;     // [pages, d] (query-aware page selection)
    at::Tensor comp_s, comp_z, comp_off; // completion: [m, d], [m], [m] float64 (log-offset)
    at::Tensor page_s, page_z, page_off; // per-page summaries for query-aware completion [np, m, ...]
  };
  struct LayerState {
    at::Tensor hot_k, hot_v;             // [Hkv, capacity, d] fp16-rounded, first n_hot rows used
    at::Tensor hot_pos;                  // [capacity] int64
    int64_t n_hot = 0;
    int64_t host_rows = 0;               // hot rows [0, host_rows) are in hot_k/hot_v; the rest (CUDA
                                         // path) only in the device arena until pull_hot_rows()
    at::Tensor arena;                    // uint8, the sealed pages
    std::vector<kernels::PageInfo> pages;
    std::vector<std::vector<int64_t>> page_pos;  // positions of each page's slots
    std::vector<int32_t> indptr, indices;
    // What the last attention call read (query-aware policies): page lists per kv head, and the
    // bytes read to select them.
    bool read_subset = false;
    std::vector<int32_t> read_indptr, read_indices;
    double read_selection = 0;
    std::vector<int8_t> signs;           // [Hkv][d]
    std::vector<HeadState> heads;
    uint64_t epoch = 0;                  // new value whenever the arena, pages or hot rows are rewritten
    at::Tensor tier;                     // [Hkv, capacity] int32
    at::Tensor obs_q, obs_pos;           // ring [Hq, W, d], [W]
    int64_t obs_count = 0, obs_next = 0;
    at::Tensor acc;                      // [Hkv, capacity] float64 accumulated attention
    at::Tensor shadow_k, shadow_v;       // track_errors: [Hkv, capacity, d]
  };

  at::Tensor attend_layer(LayerState& L, int64_t layer, const at::Tensor& q, int64_t q_pos0);
  void apply_assignment(const PolicyContext& ctx, const Assignment& a);
  void rebuild_head_views(LayerState& L);
  void add_to_completion(HeadState& H, const at::Tensor& k, const at::Tensor& v);
  double fixed_bytes() const;
  double hot_bytes_per_token() const;  // all layers and heads
  bool over_budget() const;

  TieredCacheOptions opt_;
  std::shared_ptr<RetentionPolicy> policy_;
  std::vector<CacheTier> tiers_;
  kernels::TierTable table_{};
  // The staged page table of a layer: its sealed pages, then per kv head its hot window as fp16
  // pages of one more tier at sealed_bytes + (h * hot_cap + j) * page bytes.
  struct StagedTable {
    std::vector<kernels::PageInfo> pages;
    std::vector<int32_t> indptr, indices;
    kernels::TierTable table{};
    size_t hot_page_bytes = 0;
  };
  void stage_table(const LayerState& L, size_t sealed_bytes, int64_t hot_cap, StagedTable& S) const;
  // Writes hot rows [row0, n_hot) of every kv head into the staged hot pages of `arena`.
  void stage_hot_rows(const LayerState& L, int64_t row0, size_t sealed_bytes, int64_t hot_cap, uint8_t* arena) const;
  StagedTable staged_;
  at::Tensor staged_arena_;  // staged_view(): host arena
  // The CUDA path's device state. A layer's arena (sealed pages, then hot_cap fp16 pages per kv
  // head) is uploaded whole after a re-tiering (its epoch changes); between re-tierings a decode
  // step writes only its new token's key and value rows on the device. The page table (small)
  // is uploaded every call.
  struct DeviceLayer {
    at::Tensor arena, signs;
    uint64_t epoch = 0;  // LayerState::epoch of the last whole upload (0: none)
    int64_t n_hot = 0, hot_cap = 0;
    size_t sealed = 0;
  };
  struct DeviceState {
    std::vector<DeviceLayer> layers;
    std::vector<at::Tensor> levels;  // per tier: key levels, value levels (device float)
    at::Tensor table, workspace;
    std::string fallback;            // auto: why the CUDA kernels were given up (then CPU code)
    int64_t steps = 0, uploads = 0;  // decode calls served, whole-arena uploads
    int64_t prefill_calls = 0;       // prefill calls on the GPU (prefill_dense_)
    int64_t gpu_encoded_pages = 0;   // pages the re-tierings encoded on the GPU (kernels::ada_encode)
    bool last = false;               // the last decode call ran on the CUDA kernels
  } dev_;
  at::Tensor attend_layer_cuda(LayerState& L, int64_t layer, const AttentionCall& call);
  bool use_cuda_kernels(int64_t T) const;
  bool uniform_tier_policy() const;
  void ensure_device_levels();
  kernels::TierTable device_tier_table() const;  // table_ with the device codebooks
  const at::Tensor& device_signs(const LayerState& L, int64_t layer);
  void encode_on_device(const LayerState& L, int64_t layer, const at::Tensor& keys, const at::Tensor& values,
                        const std::vector<int64_t>& rows, const std::vector<kernels::EncodeJob>& jobs, at::Tensor& arena);
  // The call's new rows into hot_k/hot_v (after pulling any rows still only on the device).
  void store_rows_on_host(LayerState& L, int64_t layer, const AttentionCall& call);
  // Hot rows [host_rows, upto) (default: all) copied back from the layer's device arena.
  void pull_hot_rows(LayerState& L, int64_t layer, int64_t upto = -1);
  uint64_t next_epoch_ = 1;
  std::unique_ptr<AttentionBackend> prefill_dense_;  // CUDA path: the prefill's exact attention on the GPU
  // reset(): a CUDA device, attention not "reference", policy ada, no completion: the CUDA path
  // serves this cache's prefill (prefill_dense_, made at its first call) and decode steps.
  bool cuda_path_ = false;
  std::string completion_;
  at::Tensor feature_w_;  // [m, d] positive random features (shared by every head)
  ModelConfig config_;
  at::Device device_{at::kCPU};
  std::vector<LayerState> layers_;
  int64_t capacity_ = 0, length_ = 0;
  bool compressed_ = false;
  int64_t steps_since_retier_ = 0, retier_count_ = 0;
  double read_bytes_ = 0, read_bytes_acc_ = 0;
  at::Tensor err2_, ref2_;  // [L, Hq] float64
};

}  // namespace skv
