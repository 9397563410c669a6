#include "core/probing/decode_probe.h"

#include <algorithm>
#include <string>
#include <utility>

namespace skv::probing {

TrafficModel dense_cache_traffic(int kv_bytes_per_element, int query_bytes_per_element) {
  return [=](const AttentionCall& call, const AttentionBackend&) -> std::optional<AttentionTraffic> {
    if (!call.q.defined() || call.q.dim() != 4 || call.q.size(2) != 1) return std::nullopt;
    const int64_t context = call.start_pos + call.q.size(2);
    return model_dense_attention_traffic(int(call.q.size(0)), int(call.q.size(1)), int(call.k.size(1)),
                                         int(call.q.size(3)), context, kv_bytes_per_element, query_bytes_per_element);
  };
}

TrafficModel paged_cache_traffic(std::function<std::optional<kernels::PagedKv>(int64_t layer)> view,
                                 PagedTrafficOptions options) {
  return [view = std::move(view), options](const AttentionCall& call,
                                           const AttentionBackend&) -> std::optional<AttentionTraffic> {
    if (!call.q.defined() || call.q.dim() != 4 || call.q.size(2) != 1) return std::nullopt;
    std::optional<kernels::PagedKv> kv = view(call.layer);
    if (!kv) return std::nullopt;
    return model_paged_attention_traffic(*kv, int(call.q.size(1)), options);
  };
}

TrafficModel tiered_cache_traffic(const TieredKvCache& cache, PagedTrafficOptions options) {
  return [&cache, options](const AttentionCall& call, const AttentionBackend&) -> std::optional<AttentionTraffic> {
    if (!call.q.defined() || call.q.dim() != 4 || call.q.size(2) != 1) return std::nullopt;
    const int64_t T = call.q.size(2);
    // Hot positions among those held before this call (tier_map covers the tokens of the last
    // finished step), plus the call's own tokens, which always enter the hot window.
    at::Tensor map = cache.tier_map(call.layer);  // [Hkv, N] int32
    const int64_t held = std::min<int64_t>(map.size(1), call.start_pos);
    int64_t hot = T;
    if (held > 0) hot += map[0].narrow(0, 0, held).eq(kHotTier).sum().item<int64_t>();
    PagedTrafficOptions o = options;
    o.hot_tokens = hot;
    // The pages this call read: all sealed pages, or the query-aware policy's selection.
    kernels::PagedKv kv = cache.read_view(call.layer);
    std::vector<int32_t> empty_indptr;
    int32_t no_index = 0;
    kernels::PageInfo no_page{};
    if (!kv.indptr || !kv.indices || !kv.pages) {  // no sealed pages yet (before the first re-tiering)
      empty_indptr.assign(std::size_t(kv.batch) * std::size_t(kv.num_kv_heads) + 1, 0);
      kv.indptr = empty_indptr.data();
      kv.indices = &no_index;
      kv.pages = &no_page;
    }
    AttentionTraffic t = model_paged_attention_traffic(kv, int(call.q.size(1)), o);
    t.selection = uint64_t(cache.read_selection_bytes(call.layer));
    return t;
  };
}

void DecodeProbe::set_traffic_model(TrafficModel model, std::string label) {
  model_ = std::move(model);
  label_ = std::move(label);
}

void DecodeProbe::begin_forward(int64_t step, int64_t position, int64_t tokens) {
  step_ = step;
  current_ = StepTotals{};
  current_.step = step;
  if (!probe_.enabled()) return;
  if (step == 0) {
    // Prefill chunks share step 0; the range name says which positions.
    probe_.push_range("prefill " + std::to_string(position) + "+" + std::to_string(tokens), 0);
  } else {
    probe_.begin_step(step);
  }
  step_open_ = true;
}

void DecodeProbe::end_forward(int64_t step) {
  if (step_open_) {
    probe_.pop_range();  // == end_step()
    step_open_ = false;
  }
  current_.step = step;
  last_ = current_;
}

void DecodeProbe::before_attention(const AttentionCall& call) {
  if (!probe_.enabled()) return;
  probe_.push_range("attn L" + std::to_string(call.layer), step_, static_cast<std::int32_t>(call.layer));
  attn_open_ = true;
}

void DecodeProbe::after_attention(const AttentionCall& call, const AttentionBackend& backend) {
  if (attn_open_) {
    probe_.pop_range();
    attn_open_ = false;
  }
  const bool on = probe_.enabled();
  if (!model_ || (!on && !model_when_off_)) return;
  if (std::optional<AttentionTraffic> t = model_(call, backend)) {
    if (on) record_attention_traffic(probe_, step_, static_cast<std::int32_t>(call.layer), label_, *t);
    current_.modeled_read_bytes += t->read_bytes();
    current_.modeled_written_bytes += t->written_bytes();
    current_.layers += 1;
    current_.traffic += *t;
    if (call.layer >= 0) {
      if (current_.layer_read_bytes.size() <= std::size_t(call.layer)) current_.layer_read_bytes.resize(std::size_t(call.layer) + 1, 0);
      current_.layer_read_bytes[std::size_t(call.layer)] += t->read_bytes();
    }
  }
}

}  // namespace skv::probing
