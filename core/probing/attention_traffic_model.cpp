#include "core/probing/attention_traffic_model.h"

#include <sstream>

#include "core/common/error.h"
#include "probes/probe.h"

namespace skv::probing {

std::uint64_t sector_bytes(std::uint64_t begin, std::uint64_t bytes, std::uint64_t sector) {
  if (bytes == 0) return 0;
  const std::uint64_t first = begin / sector, last = (begin + bytes - 1) / sector;
  return (last - first + 1) * sector;
}

AttentionTraffic& AttentionTraffic::operator+=(const AttentionTraffic& o) {
  key_codes += o.key_codes;
  key_scales += o.key_scales;
  values += o.values;
  value_scales += o.value_scales;
  page_mean += o.page_mean;
  page_unused += o.page_unused;
  hot_window += o.hot_window;
  page_table += o.page_table;
  query += o.query;
  signs += o.signs;
  codebooks += o.codebooks;
  selection += o.selection;
  output += o.output;
  workspace += o.workspace;
  pages += o.pages;
  tokens += o.tokens;
  hot_tokens += o.hot_tokens;
  return *this;
}

std::string AttentionTraffic::to_json() const {
  std::ostringstream o;
  o << "{\"read_bytes\":" << read_bytes() << ",\"written_bytes\":" << written_bytes()
    << ",\"key_codes\":" << key_codes << ",\"key_scales\":" << key_scales << ",\"values\":" << values
    << ",\"value_scales\":" << value_scales << ",\"page_mean\":" << page_mean << ",\"page_unused\":" << page_unused << ",\"hot_window\":" << hot_window
    << ",\"page_table\":" << page_table << ",\"query\":" << query << ",\"signs\":" << signs
    << ",\"codebooks\":" << codebooks << ",\"selection\":" << selection << ",\"output\":" << output << ",\"workspace\":" << workspace
    << ",\"pages\":" << pages << ",\"tokens\":" << tokens << ",\"hot_tokens\":" << hot_tokens << ",\"provenance\":\"modeled\"}";
  return o.str();
}

namespace {

// Charges the sectors of [begin, begin + bytes) that lie past *covered_end (the end of the sectors
// already charged to an earlier array of the same page) and moves *covered_end.
std::uint64_t charge(std::uint64_t begin, std::uint64_t bytes, std::uint64_t* covered_end) {
  if (bytes == 0) return 0;
  std::uint64_t first = begin / kDramSectorBytes * kDramSectorBytes;
  const std::uint64_t end = (begin + bytes + kDramSectorBytes - 1) / kDramSectorBytes * kDramSectorBytes;
  if (first < *covered_end) first = *covered_end;
  if (end <= first) return 0;
  *covered_end = end;
  return end - first;
}

}  // namespace

AttentionTraffic model_paged_attention_traffic(const kernels::PagedKv& kv, int num_q_heads,
                                               const PagedTrafficOptions& options) {
  using namespace skv::kernels;
  if (kv.batch < 0 || kv.num_kv_heads <= 0 || kv.head_dim <= 0) throw Error("traffic model: empty page table shape");
  if (num_q_heads <= 0 || num_q_heads % kv.num_kv_heads != 0)
    throw Error("traffic model: query heads must be a positive multiple of the kv heads");
  if (kv.tiers.count < 1 || kv.tiers.count > kMaxTiers) throw Error("traffic model: tier count must be in 1..8");
  const std::uint64_t lists = std::uint64_t(kv.batch) * std::uint64_t(kv.num_kv_heads);
  AttentionTraffic t;
  if (lists == 0) return t;
  if (!kv.indptr || !kv.indices || !kv.pages) throw Error("traffic model: page table needs host indptr/indices/pages");

  const std::uint64_t n_indices = std::uint64_t(kv.indptr[lists]);
  const std::uint64_t d = std::uint64_t(kv.head_dim);
  bool tier_used[kMaxTiers] = {};
  for (std::uint64_t list = 0; list < lists; ++list) {
    const int32_t a = kv.indptr[list], b = kv.indptr[list + 1];
    if (a < 0 || b < a) throw Error("traffic model: indptr is not non-decreasing");
    for (int32_t i = a; i < b; ++i) {
      if (kv.indices[i] < 0) throw Error("traffic model: negative page id");
      const PageInfo& pg = kv.pages[kv.indices[i]];
      if (pg.tier >= std::uint32_t(kv.tiers.count)) throw Error("traffic model: page tier id outside the tier table");
      const TierLayout& L = kv.tiers.layouts[pg.tier];
      if (pg.tokens < 1 || int(pg.tokens) > L.page_tokens) throw Error("traffic model: page token count outside 1..page_tokens");
      tier_used[pg.tier] = true;
      const PageOffsets off = page_offsets(L);
      const std::uint64_t base = pg.byte_offset, n = pg.tokens;
      const bool coded = keys_coded(L);
      std::uint64_t covered = 0;  // end of the sectors already charged in this page
      std::uint64_t charged = 0;
      auto charge_array = [&](std::uint64_t begin, std::uint64_t bytes) {
        const std::uint64_t c = charge(begin, bytes, &covered);
        charged += c;
        return c;
      };
      t.key_codes += charge_array(base + off.key_codes, coded ? n * std::uint64_t(key_words_per_token(L)) * 4 : n * d * 2);
      if (coded) t.key_scales += charge_array(base + off.key_scales, n * 2);
      t.values += charge_array(base + off.values,
                               L.value_kind == ValueKind::kCoord ? n * std::uint64_t(value_words_per_token(L)) * 4 : n * d * 2);
      if (L.value_kind == ValueKind::kCoord) t.value_scales += charge_array(base + off.value_scales, n * 2);
      if (has_page_mean(L)) t.page_mean += charge_array(base + off.mean, d * 2);
      // The kernel copies the whole page; page_unused gets the sectors not charged above.
      t.page_unused += sector_bytes(base, off.total) - charged;
      t.pages += 1;
      t.tokens += n;
    }
  }
  t.page_table = (lists + 1) * 4 + n_indices * (4 + sizeof(PageInfo));
  if (options.hot_tokens < 0 || options.hot_bytes_per_element <= 0)
    throw Error("traffic model: hot_tokens must be >= 0 and hot_bytes_per_element > 0");
  if (options.hot_tokens > 0) {
    // K and V blocks of each list: [hot_tokens, d] rows, each block sector-aligned.
    const std::uint64_t block = std::uint64_t(options.hot_tokens) * d * std::uint64_t(options.hot_bytes_per_element);
    t.hot_window = lists * 2 * sector_bytes(0, block);
    t.hot_tokens = lists * std::uint64_t(options.hot_tokens);
  }
  const std::uint64_t rows = std::uint64_t(kv.batch) * std::uint64_t(num_q_heads);
  t.query = rows * d * std::uint64_t(options.query_bytes_per_element);
  t.output = rows * d * std::uint64_t(options.query_bytes_per_element);
  bool any_coded_values = false, any_fp16_values = false;
  for (int i = 0; i < kv.tiers.count; ++i) {
    const TierLayout& L = kv.tiers.layouts[i];
    (L.value_kind == ValueKind::kCoord ? any_coded_values : any_fp16_values) = true;
    if (options.coded_kernel && tier_used[i]) {
      t.codebooks += std::uint64_t(key_level_count(L) + value_level_count(L)) * 4;
    }
  }
  if (options.coded_kernel) t.signs = std::uint64_t(kv.num_kv_heads) * d;
  if (options.splits > 0) {
    const std::uint64_t vectors = options.coded_kernel ? std::uint64_t(any_coded_values) + std::uint64_t(any_fp16_values) : 1;
    t.workspace = std::uint64_t(options.splits) * rows * (2 + vectors * d) * 4;
  }
  return t;
}

AttentionTraffic model_dense_attention_traffic(int batch, int num_q_heads, int num_kv_heads, int head_dim,
                                               std::int64_t context, int kv_bytes_per_element,
                                               int query_bytes_per_element) {
  if (batch < 0 || num_q_heads <= 0 || num_kv_heads <= 0 || head_dim <= 0 || context < 0)
    throw Error("traffic model: dense attention shape must be positive");
  AttentionTraffic t;
  const std::uint64_t kv_elems = std::uint64_t(batch) * std::uint64_t(num_kv_heads) * std::uint64_t(context) *
                                 std::uint64_t(head_dim);
  t.key_codes = kv_elems * std::uint64_t(kv_bytes_per_element);
  t.values = kv_elems * std::uint64_t(kv_bytes_per_element);
  const std::uint64_t q_elems = std::uint64_t(batch) * std::uint64_t(num_q_heads) * std::uint64_t(head_dim);
  t.query = q_elems * std::uint64_t(query_bytes_per_element);
  t.output = q_elems * std::uint64_t(query_bytes_per_element);
  t.tokens = std::uint64_t(batch) * std::uint64_t(num_kv_heads) * std::uint64_t(context);
  return t;
}

void record_attention_traffic(probes::Probe& probe, std::int64_t step, std::int32_t layer, std::string_view kernel,
                              const AttentionTraffic& traffic) {
  if (!probe.enabled()) return;
  std::string name(kernel);
  const std::size_t stem = name.size();
  name += ":read";
  probe.record_modeled_bytes(step, layer, name, traffic.read_bytes());
  name.resize(stem);
  name += ":write";
  probe.record_modeled_bytes(step, layer, name, traffic.written_bytes());
}

}  // namespace skv::probing
