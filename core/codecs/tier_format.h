#pragma once
// Tier formats as data (assets/tiers/*.json): one loader that validates them and turns them into
// the kernels' TierLayout, codebooks and exact rates. Rates come from kernels/ada_layout.h (the
// page byte layout), so what RDR budgets is what the arena stores.
//
// Tier file:
//   { "name": "k3v4", "description": "...",
//     "key":   {"codec": "coord-lloyd", "bits": 3}          | {"codec": "pair-polar", "angle_bits": 3,
//                                                              "radius_bits": 2} | {"codec": "fp16"}
//              | {"codec": "block-vq", "dim": 4, "bits": 12}  (CPU-only: codec-eval, block_vq_page.h),
//     "value": {"codec": "coord-lloyd", "bits": 4}          | {"codec": "fp16"},
//     "page_mean": true, "page_tokens": 64, "codebook": "nested" | "lloyd" }
// Tier-set file: { "name": "default", "tiers": ["fp16", "k4v4", ...], "allow_drop": true },
// tiers best first, each resolved as <dir>/<name>.json.
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "kernels/ada_layout.h"
#include "kernels/page_table.h"

namespace skv::codecs {

struct TierFormat {
  std::string name;
  std::string description;
  kernels::KeyKind key_kind = kernels::KeyKind::kFp16;
  int key_bits = 0;         // COORD: b; PAIR: angle bits a
  int key_radius_bits = 0;  // PAIR: p
  kernels::ValueKind value_kind = kernels::ValueKind::kFp16;
  int value_bits = 0;
  bool page_mean = true;
  int page_tokens = 64;
  bool nested = true;       // codebook "nested" (demotable by dropping bits) or "lloyd"
  // > 0: keys are block-vq(key_block_dim, key_bits) (block_vq.h), a CPU-only codec with no
  // kernel layout: key_kind stays kFp16 (unused) and layout() refuses the tier with a one-line
  // error, so the KV cache and the CUDA/CPU ADA kernels never see it. codec-eval and
  // block_vq_page.h encode, size and score it.
  int key_block_dim = 0;
  bool cpu_only() const { return key_block_dim > 0; }

  // Throws skv::Error for a CPU-only tier (cpu_only()).
  kernels::TierLayout layout(int head_dim) const;
  // The value part alone as a kernel layout (keys fp16, no mean); validates values, page_tokens.
  kernels::TierLayout value_layout(int head_dim) const;
  // Direction codec specs for make_direction_codec ("" for fp16).
  std::string key_codec_spec() const;
  std::string value_codec_spec() const;
};

// Exact storage cost of a tier at one head_dim, from the page layout (ada_layout.h).
struct TierRate {
  double key_bits_per_element = 0;    // key codes + key scales + page mean (+ padding)
  double value_bits_per_element = 0;  // value codes + value scales (+ padding)
  double meta_bits_per_element = 0;   // page-table entry (PageInfo + index) per K+V element pair
  double bits_per_element = 0;        // (key + value + meta) / 2: mean over the K and V elements
  double bytes_per_token_per_head = 0;
  size_t page_bytes = 0;
};
TierRate tier_rate(const TierFormat& t, int head_dim);

// Float codebooks the kernels take (TierCodebooks points into this; keep it alive).
struct TierCodebookSet {
  std::vector<float> key_levels, value_levels;
  kernels::TierCodebooks view() const;
};
TierCodebookSet tier_codebooks(const TierFormat& t, int head_dim);

// Throws skv::Error naming the file and the field.
TierFormat parse_tier_format(const nlohmann::json& j, const std::string& origin);
TierFormat load_tier_format(const std::filesystem::path& file);
nlohmann::json tier_format_to_json(const TierFormat& t);

struct TierSet {
  std::string name;
  std::vector<TierFormat> tiers;  // best first
  bool allow_drop = true;
};
TierSet load_tier_set(const std::filesystem::path& file);
// assets/tiers of the source tree (SKV_ASSETS_DIR) unless `dir` is given.
std::filesystem::path default_tiers_dir();

}  // namespace skv::codecs
