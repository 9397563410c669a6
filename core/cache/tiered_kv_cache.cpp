#include "core/cache/tiered_kv_cache.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <tuple>

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>

#include "core/common/error.h"
#include "core/decoder/dense_kv_cache.h"
#include "kernels/ada_attention.h"
#include "kernels/kernel_error.h"
#include "kernels/cpu/ada_reference.h"

namespace skv {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

at::Tensor fp16_round(const at::Tensor& x) { return x.to(at::kHalf).to(at::kFloat); }

std::string fmt_bytes(double b) {
  char buf[64];
  if (b >= 1 << 20) std::snprintf(buf, sizeof buf, "%.2f MiB", b / double(1 << 20));
  else std::snprintf(buf, sizeof buf, "%.1f KiB", b / 1024.0);
  return buf;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
double CacheBudget::at(double full) const {
  if (bytes > 0) return bytes;
  if (fraction > 0) return fraction * full;
  return kInf;
}

CacheBudget CacheBudget::parse(const std::string& text) {
  CacheBudget b;
  if (text.empty() || text == "none" || text == "full") return b;
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(text, &used);
  } catch (...) {
    throw Error("budget '" + text + "': expected a fraction (0.25), a percentage (25%) or bytes (64MiB)");
  }
  std::string unit = text.substr(used);
  if (v <= 0) throw Error("budget '" + text + "' must be positive");
  if (unit.empty()) {
    if (v <= 1.0) b.fraction = v;
    else b.bytes = v;
  } else if (unit == "%") {
    b.fraction = v / 100.0;
  } else {
    const std::map<std::string, double> units = {{"B", 1},         {"KB", 1e3},        {"MB", 1e6},
                                                 {"GB", 1e9},      {"KiB", 1024.0},    {"MiB", 1048576.0},
                                                 {"GiB", 1073741824.0}};
    auto it = units.find(unit);
    if (it == units.end()) throw Error("budget '" + text + "': unknown unit '" + unit + "' (use %, B, KiB, MiB, GiB)");
    b.bytes = v * it->second;
  }
  return b;
}

std::string CacheBudget::describe() const {
  char buf[64];
  if (bytes > 0) return fmt_bytes(bytes);
  if (fraction > 0) {
    std::snprintf(buf, sizeof buf, "%.4g%% of fp16", 100.0 * fraction);
    return buf;
  }
  return "unlimited";
}

// ---------------------------------------------------------------------------------------------
TieredKvCache::TieredKvCache(TieredCacheOptions options, std::shared_ptr<RetentionPolicy> policy)
    : opt_(std::move(options)), policy_(std::move(policy)) {
  if (!policy_) throw Error("tiered cache: no retention policy given");
  if (opt_.hot_window < 1) throw Error("tiered cache: the hot window must hold at least 1 token");
  if (opt_.sink_tokens < 0) throw Error("tiered cache: sink tokens must be >= 0");
  if (opt_.retier_every < 1) throw Error("tiered cache: --retier-every must be >= 1");
}

std::string TieredKvCache::name() const { return "tiered(" + policy_->name() + ")"; }

void TieredKvCache::reset(const ModelConfig& c, int64_t batch, int64_t capacity, const at::Device& device) {
  dev_ = DeviceState{};  // the tiers (and their device codebooks) may change
  if (opt_.attention != "auto" && opt_.attention != "cuda" && opt_.attention != "reference")
    throw Error("attention '" + opt_.attention + "' is unknown (use auto, cuda or reference)");
  if (batch != 1) throw Error("tiered cache: batch " + std::to_string(batch) + " is not supported (use batch 1)");
  config_ = c;
  device_ = device;
  capacity_ = capacity;
  length_ = 0;
  compressed_ = false;
  steps_since_retier_ = retier_count_ = 0;
  read_bytes_ = 0;
  const std::string spec = policy_->tier_spec().empty() ? opt_.tiers : policy_->tier_spec();
  tiers_ = load_cache_tiers(spec, int(c.head_dim));
  table_ = {};
  table_.count = int(tiers_.size());
  for (size_t t = 0; t < tiers_.size(); ++t) {
    if (tiers_[t].layout.head_dim != c.head_dim) throw Error("tier " + tiers_[t].name + ": head_dim differs from the model's");
    table_.layouts[t] = tiers_[t].layout;
    table_.codebooks[t] = tiers_[t].books.view();
  }
  completion_ = opt_.completion.empty() ? policy_->completion() : opt_.completion;
  if (completion_ == "off") completion_.clear();
  if (!completion_.empty() && completion_ != "prf")
    throw Error("completion '" + completion_ + "' is unknown (use prf or off)");
  if (!completion_.empty()) {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(opt_.seed ^ 0xC0FFEEull);
    feature_w_ = at::randn({opt_.completion_features, c.head_dim}, gen, at::TensorOptions().dtype(at::kDouble));
  }
  if (opt_.attention == "cuda") {  // the CUDA kernels asked for: say now why they cannot run
    if (!device.is_cuda() || !kernels::cuda_device_available())
      throw Error("--attention cuda needs --device cuda and a CUDA GPU (this run is on " + device.str() + ")");
    if (!uniform_tier_policy() || !completion_.empty())
      throw Error("--attention cuda runs policy ada (--kv ada) only; policy '" + policy_->name() + "' attends on the CPU");
  }
  // The prefill (exact, every token hot) on the GPU: a dense fp16 cache on the device does it
  // where the CUDA path will serve the decode steps (the CPU's exact float64 attention over the
  // whole prompt took ~14 s for 4k tokens). Made at the first prefill call (a cache that adopts
  // another's prefill never holds one), released at the first re-tiering.
  prefill_dense_.reset();
  cuda_path_ = device.is_cuda() && opt_.attention != "reference" && uniform_tier_policy() && completion_.empty() &&
               kernels::cuda_device_available();
  const int64_t Hkv = c.n_kv_heads, Hq = c.n_heads, d = c.head_dim;
  auto f32 = at::TensorOptions().dtype(at::kFloat);
  layers_.clear();
  layers_.resize(size_t(c.n_layers));
  for (int64_t l = 0; l < c.n_layers; ++l) {
    LayerState& L = layers_[size_t(l)];
    L.epoch = next_epoch_++;
    L.hot_k = at::zeros({Hkv, capacity, d}, f32);
    L.hot_v = at::zeros({Hkv, capacity, d}, f32);
    L.hot_pos = at::zeros({capacity}, at::kLong);
    L.arena = at::zeros({16}, at::kByte);
    L.signs = codecs::layer_hadamard_signs(opt_.seed, int(l), int(Hkv), int(d));
    L.heads.resize(size_t(Hkv));
    L.indptr.assign(size_t(Hkv) + 1, 0);
    L.tier = at::full({Hkv, capacity}, kHotTier, at::kInt);
    L.obs_q = at::zeros({Hq, opt_.obs_window, d}, f32);
    L.obs_pos = at::zeros({opt_.obs_window}, at::kLong);
    L.acc = at::zeros({Hkv, capacity}, at::kDouble);
    if (opt_.track_errors) {
      L.shadow_k = at::zeros({Hkv, capacity, d}, f32);
      L.shadow_v = at::zeros({Hkv, capacity, d}, f32);
    }
    for (auto& H : L.heads) {
      H.kdec = at::zeros({0, d}, f32);
      H.vdec = at::zeros({0, d}, f32);
      H.pos = at::zeros({0}, at::kLong);
      if (!completion_.empty()) {
        H.comp_s = at::zeros({opt_.completion_features, d}, at::kDouble);
        H.comp_z = at::zeros({opt_.completion_features}, at::kDouble);
        H.comp_off = at::full({opt_.completion_features}, -kInf, at::kDouble);
      }
    }
  }
  err2_ = at::zeros({c.n_layers, Hq}, at::kDouble);
  ref2_ = at::zeros({c.n_layers, Hq}, at::kDouble);
}

double TieredKvCache::hot_bytes_per_token() const {
  return double(config_.n_layers * config_.n_kv_heads * 2 * 2 * config_.head_dim);
}

double TieredKvCache::full_fp16_bytes() const { return double(length_) * hot_bytes_per_token(); }

double TieredKvCache::budget_bytes() const { return opt_.budget.at(full_fp16_bytes()); }

double TieredKvCache::fixed_bytes() const {
  // Hadamard signs (1 byte each) + completion summaries (S, z, offsets as float32).
  double per_head = double(config_.head_dim);
  if (!completion_.empty()) per_head += 4.0 * double(opt_.completion_features) * double(config_.head_dim + 2);
  return per_head * double(config_.n_layers * config_.n_kv_heads);
}

ResidentBytes TieredKvCache::resident_bytes() const {
  ResidentBytes r;
  const int64_t Hkv = config_.n_kv_heads;
  const double hot_tok = double(2 * 2 * config_.head_dim);
  r.by_head_tier.assign(layers_.size(), std::vector<std::vector<double>>(
                                            size_t(Hkv), std::vector<double>(tiers_.size() + 1, 0.0)));
  for (size_t l = 0; l < layers_.size(); ++l) {
    const LayerState& L = layers_[l];
    for (int64_t h = 0; h < Hkv; ++h) {
      auto& row = r.by_head_tier[l][size_t(h)];
      row.back() = double(L.n_hot) * hot_tok;
      r.hot += row.back();
      for (int32_t p : L.heads[size_t(h)].pages) {
        const double b = tiers_[L.pages[size_t(p)].tier].page_cost();
        row[L.pages[size_t(p)].tier] += b;
        r.pages += b;
      }
    }
  }
  r.fixed = fixed_bytes();
  for (const auto& L : layers_)  // query-aware completion: per-page summaries (float32)
    for (const auto& H : L.heads)
      if (H.page_s.defined()) r.fixed += 4.0 * double(H.page_s.numel() + H.page_z.numel() + H.page_off.numel());
  r.total = r.hot + r.pages + r.fixed;
  return r;
}

bool TieredKvCache::over_budget() const {
  if (opt_.budget.unlimited()) return false;
  return resident_bytes().total > budget_bytes();
}

// ---------------------------------------------------------------------------------------------
at::Tensor TieredKvCache::attend(const AttentionCall& call) {
  if (layers_.empty()) throw Error("tiered cache: reset() was not called");
  if (call.q.size(0) != 1) throw Error("tiered cache: batch must be 1");
  const int64_t T = call.k.size(2), l = call.layer;
  if (call.start_pos != length_ && l == 0)
    throw Error("tiered cache: tokens must be appended in order (cache holds " + std::to_string(length_) +
                ", call starts at " + std::to_string(call.start_pos) + ")");
  if (call.start_pos + T > capacity_)
    throw Error("KV cache full: " + std::to_string(call.start_pos + T) + " tokens exceed its capacity of " +
                std::to_string(capacity_));
  // Re-tiering happens between steps (at layer 0, before the new token joins), so every layer sees
  // the same token set. The prefill (T > 1 before any decode step) runs exact.
  if (l == 0 && length_ > 0) {
    const bool decode_step = T == 1;
    if (decode_step && !compressed_) {
      retier();
    } else if (compressed_) {
      steps_since_retier_ += T;
      if (steps_since_retier_ >= opt_.retier_every || over_budget()) retier();
    }
  }
  if (l == 0) read_bytes_acc_ = 0;
  LayerState& L = layers_.at(size_t(l));
  L.hot_pos.narrow(0, L.n_hot, T).copy_(at::arange(call.start_pos, call.start_pos + T, at::kLong));
  L.tier.narrow(1, call.start_pos, T).fill_(kHotTier);
  L.n_hot += T;
  if (opt_.track_errors) {
    L.shadow_k.narrow(1, call.start_pos, T).copy_(call.k[0].to(at::kCPU, at::kFloat));
    L.shadow_v.narrow(1, call.start_pos, T).copy_(call.v[0].to(at::kCPU, at::kFloat));
  }
  // The CUDA path keeps the new rows on the device (attend_layer_cuda) and reads nothing on the
  // host: no device-to-host copy, so no sync, on its decode steps.
  at::Tensor out, q;
  dev_.last = use_cuda_kernels(T);
  if (cuda_path_ && !prefill_dense_ && !compressed_ && T > 1 && call.start_pos == 0) {
    prefill_dense_ = std::make_unique<DenseKvCache>(at::kHalf);  // hot rows are fp16 (rounded as on the CPU)
    prefill_dense_->reset(config_, 1, capacity_, device_);
  }
  if (prefill_dense_ && !compressed_ && T > 1 && prefill_dense_->cached_tokens() == call.start_pos) {
    // The prefill on the GPU (exact, fp16 rows).
    AttentionCall on_device = call;  // (the decoder's tensors are there already)
    on_device.q = call.q.to(device_);
    on_device.k = call.k.to(device_);
    on_device.v = call.v.to(device_);
    out = prefill_dense_->attend(on_device)[0].to(at::kFloat);  // [Hq, T, d]
    store_rows_on_host(L, l, call);  // the first re-tiering encodes them on the host
    ++dev_.prefill_calls;
    read_bytes_acc_ += double(L.n_hot) * 4.0 * double(config_.head_dim) * double(config_.n_kv_heads);
    if (opt_.track_errors) q = call.q[0].to(at::kCPU, at::kFloat);
  } else if (dev_.last) {
    try {
      out = attend_layer_cuda(L, l, call);
    } catch (const KernelError& e) {  // the kernels reject these tiers: auto falls back for good
      if (opt_.attention == "cuda") throw Error(std::string("--attention cuda: ") + e.what());
      dev_.fallback = e.what();
      dev_.last = false;
    }
  }
  if (!dev_.last && !out.defined()) {
    store_rows_on_host(L, l, call);
    q = call.q[0].to(at::kCPU, at::kFloat);  // [Hq, T, d]
    out = attend_layer(L, l, q, call.start_pos);
  } else if (opt_.track_errors) {
    if (!q.defined()) q = call.q[0].to(at::kCPU, at::kFloat);
    out = out.to(at::kCPU);
  }
  // Observation window: the last obs_window queries (ring). Not kept on the CUDA path: its
  // policy (ada) reads none.
  for (int64_t t = std::max<int64_t>(0, T - opt_.obs_window); t < T && q.defined(); ++t) {
    L.obs_q.select(1, L.obs_next).copy_(q.select(1, t));
    L.obs_pos[L.obs_next] = call.start_pos + t;
    L.obs_next = (L.obs_next + 1) % opt_.obs_window;
    L.obs_count = std::min(L.obs_count + 1, opt_.obs_window);
  }
  if (opt_.track_errors && compressed_ && T == 1) {
    const int64_t S = call.start_pos + T;
    auto exact = exact_attention(q.unsqueeze(0), L.shadow_k.narrow(1, 0, S).unsqueeze(0),
                                 L.shadow_v.narrow(1, 0, S).unsqueeze(0), call.start_pos)[0];
    auto diff = (exact - out).to(at::kDouble);
    err2_[l] += diff.pow(2).sum({1, 2});
    ref2_[l] += exact.to(at::kDouble).pow(2).sum({1, 2});
  }
  if (l + 1 == config_.n_layers) {
    length_ = call.start_pos + T;
    read_bytes_ = read_bytes_acc_;
  }
  return out.unsqueeze(0).to(call.q.device());
}

at::Tensor TieredKvCache::attend_layer(LayerState& L, int64_t layer, const at::Tensor& q, int64_t q_pos0) {
  const int64_t Hq = config_.n_heads, Hkv = config_.n_kv_heads, d = config_.head_dim, g = Hq / Hkv;
  const int64_t T = q.size(1);
  const double scale = 1.0 / std::sqrt(double(d));
  auto out = at::empty({Hq, T, d}, at::kFloat);
  auto qpos = (at::arange(T, at::kLong) + q_pos0).repeat({g});  // row r = (gi, t): t = r % T
  auto hot_pos = L.hot_pos.narrow(0, 0, L.n_hot);
  const int64_t query_pages = policy_->query_page_budget_tokens(length_);
  L.read_subset = query_pages >= 0;
  L.read_indptr.assign(1, 0);
  L.read_indices.clear();
  L.read_selection = 0;
  for (int64_t h = 0; h < Hkv; ++h) {
    HeadState& H = L.heads[size_t(h)];
    auto qh = q.narrow(0, h * g, g).reshape({g * T, d});  // [R, d]
    const int64_t R = g * T, ns = H.pos.size(0);
    // Hot window: exact fp16 keys, causal by position.
    auto hk = L.hot_k[h].narrow(0, 0, L.n_hot), hv = L.hot_v[h].narrow(0, 0, L.n_hot);
    auto s_hot = at::matmul(qh, hk.t()).to(at::kDouble) * scale;  // [R, n_hot]
    s_hot.masked_fill_(hot_pos.unsqueeze(0) > qpos.unsqueeze(1), -kInf);
    read_bytes_acc_ += double(L.n_hot) * 4.0 * double(d);
    // Sealed pages.
    at::Tensor s_seal = at::empty({R, ns}, at::kDouble);
    at::Tensor feat_b;                 // [R, m] log phi(q) (completion)
    at::Tensor extra_log, extra_s, extra_z;  // skipped pages' summaries (query-aware completion)
    if (!completion_.empty()) {
      auto qs = qh.to(at::kDouble) / std::pow(double(d), 0.25);
      feat_b = at::matmul(qs, feature_w_.t()) - 0.5 * qs.pow(2).sum(1, true) -
               std::log(double(opt_.completion_features));
    }
    if (ns > 0) {
      if (opt_.lut_scoring) {
        std::vector<float> buf(static_cast<size_t>(ns));
        auto qc = qh.contiguous();
        auto acc = s_seal.accessor<double, 2>();
        for (int64_t r = 0; r < R; ++r) {
          const float* qrow = qc.data_ptr<float>() + r * d;
          for (size_t pi = 0; pi < H.pages.size(); ++pi) {
            const kernels::PageInfo& pg = L.pages[size_t(H.pages[pi])];
            kernels::cpu::page_logits(table_.layouts[pg.tier], table_.codebooks[pg.tier], L.signs.data() + h * d,
                                      L.arena.data_ptr<uint8_t>() + pg.byte_offset, int(pg.tokens), qrow, 0.f,
                                      buf.data() + H.page_row[pi]);
          }
          for (int64_t j = 0; j < ns; ++j) acc[r][j] = buf[size_t(j)];
        }
      } else {
        s_seal = at::matmul(qh, H.kdec.t()).to(at::kDouble) * scale;
      }
      // Quest-style page Top-K: keep the pages with the largest upper bound of q.k (Tang et al. 2024).
      if (query_pages >= 0 && !H.pages.empty()) {
        const int64_t np = int64_t(H.pages.size());
        // sum_i max(q_i min_i, q_i max_i) per page, then the max over the group's queries.
        auto lo = qh.unsqueeze(1) * H.page_kmin.unsqueeze(0), hi = qh.unsqueeze(1) * H.page_kmax.unsqueeze(0);
        auto bound = at::maximum(lo, hi).sum(-1).amax(0);  // [np]
        const int64_t P = tiers_[L.pages[size_t(H.pages[0])].tier].layout.page_tokens;
        const int64_t keep = std::min<int64_t>(np, (query_pages + P - 1) / P);
        auto top = std::get<1>(bound.topk(keep));
        auto page_keep = at::zeros({np}, at::kBool).index_fill_(0, top, true);
        std::vector<int64_t> row_page(static_cast<size_t>(ns));
        for (int64_t pi = 0; pi < np; ++pi)
          for (uint32_t j = 0; j < L.pages[size_t(H.pages[size_t(pi)])].tokens; ++j)
            row_page[size_t(H.page_row[size_t(pi)] + j)] = pi;
        auto rp = at::from_blob(row_page.data(), {ns}, at::kLong).clone();
        auto tok_keep = page_keep.index_select(0, rp);
        s_seal.masked_fill_(tok_keep.logical_not().unsqueeze(0), -kInf);
        for (int64_t pi = 0; pi < np; ++pi)
          if (page_keep[pi].item<bool>()) {
            read_bytes_acc_ += double(tiers_[L.pages[size_t(H.pages[size_t(pi)])].tier].stored_page_bytes);
            L.read_indices.push_back(H.pages[size_t(pi)]);
          }
        read_bytes_acc_ += double(np) * 4.0 * double(d);  // the min/max metadata
        L.read_selection += double(np) * 4.0 * double(d);
        if (feat_b.defined() && H.page_s.defined() && keep < np) {
          // Skipped pages join through their feature-map summaries (read: m (d + 2) floats each).
          auto skip = page_keep.logical_not().nonzero().reshape({-1});
          const int64_t nu = skip.size(0), m = opt_.completion_features;
          extra_log = (feat_b.unsqueeze(1) + H.page_off.index_select(0, skip).unsqueeze(0)).reshape({R, nu * m});
          extra_s = H.page_s.index_select(0, skip).reshape({nu * m, d});
          extra_z = H.page_z.index_select(0, skip).reshape({nu * m});
          read_bytes_acc_ += double(nu * m) * 4.0 * double(d + 2);
          L.read_selection += double(nu * m) * 4.0 * double(d + 2);
        }
      } else {
        for (int32_t p : H.pages) read_bytes_acc_ += double(tiers_[L.pages[size_t(p)].tier].stored_page_bytes);
        if (L.read_subset) L.read_indices.insert(L.read_indices.end(), H.pages.begin(), H.pages.end());
      }
    }
    L.read_indptr.push_back(int32_t(L.read_indices.size()));
    // One max over every part (log-sum-exp merge), then one normalization.
    auto mx = at::maximum(s_hot.amax(1), ns > 0 ? s_seal.amax(1) : at::full({R}, -kInf, at::kDouble));
    at::Tensor comp_log, comp_s, comp_z;
    if (feat_b.defined() && H.comp_z.defined()) {
      // Positive random features (Performer, Choromanski et al. 2021): exp(q.k/sqrt d) =
      // E_w[exp(w.q' - |q'|^2/2) exp(w.k' - |k'|^2/2)], x' = x / d^(1/4). Log domain with offsets.
      comp_log = feat_b + H.comp_off.unsqueeze(0);  // log weight of S_f, z_f
      comp_s = H.comp_s;
      comp_z = H.comp_z;
      if (extra_log.defined()) {
        comp_log = at::cat({comp_log, extra_log}, 1);
        comp_s = at::cat({comp_s, extra_s}, 0);
        comp_z = at::cat({comp_z, extra_z}, 0);
      }
      comp_log = comp_log.masked_fill(comp_z.gt(0).unsqueeze(0).logical_not(), -kInf);
      auto cm = (comp_log + comp_z.clamp_min(1e-300).log().unsqueeze(0)).amax(1);
      mx = at::maximum(mx, cm);
    }
    mx = mx.masked_fill(mx.isinf(), 0.0);
    auto p_hot = (s_hot - mx.unsqueeze(1)).exp();
    auto num = at::matmul(p_hot, hv.to(at::kDouble));
    auto den = p_hot.sum(1);
    at::Tensor p_seal;
    if (ns > 0) {
      p_seal = (s_seal - mx.unsqueeze(1)).exp();
      num = num + at::matmul(p_seal, H.vdec.to(at::kDouble));
      den = den + p_seal.sum(1);
    }
    if (comp_log.defined()) {
      auto w = (comp_log - mx.unsqueeze(1)).exp();  // [R, m]
      num = num + at::matmul(w, comp_s);
      den = den + at::matmul(w, comp_z);
    }
    auto o = num / den.clamp_min(1e-300).unsqueeze(1);
    out.narrow(0, h * g, g).copy_(o.reshape({g, T, d}).to(at::kFloat));
    // Accumulated attention (H2O): probabilities summed over the group's queries.
    auto inv = 1.0 / den.clamp_min(1e-300).unsqueeze(1);
    L.acc[h].index_add_(0, hot_pos, (p_hot * inv).sum(0));
    if (ns > 0) L.acc[h].index_add_(0, H.pos, (p_seal * inv).sum(0));
  }
  (void)layer;
  return out;
}

// ---------------------------------------------------------------------------------------------
void TieredKvCache::retier() {
  const int64_t N = length_, Hkv = config_.n_kv_heads, d = config_.head_dim;
  if (N == 0) return;
  for (size_t l = 0; l < layers_.size(); ++l) pull_hot_rows(layers_[l], int64_t(l));
  prefill_dense_.reset();  // the prefill is over
  PolicyContext ctx;
  ctx.config = &config_;
  ctx.tiers = &tiers_;
  ctx.n_tokens = N;
  ctx.retier_index = retier_count_;
  ctx.full_fp16_bytes = full_fp16_bytes();
  auto pos = at::arange(N, at::kLong);
  ctx.forced = pos.lt(opt_.sink_tokens).logical_or(pos.ge(N - opt_.hot_window));
  const int64_t n_forced = ctx.forced.sum().item<int64_t>();
  // Headroom: the hot window grows by one token per step until the next re-tiering, while a
  // fractional budget grows by fraction x that; reserve the difference so the budget holds.
  const double tok = hot_bytes_per_token();
  const double growth = opt_.budget.bytes > 0 ? tok : tok * (1.0 - std::min(1.0, opt_.budget.fraction));
  const double target = budget_bytes() - double(opt_.retier_every) * std::max(0.0, growth);
  ctx.page_budget_bytes = opt_.budget.unlimited() ? kInf : target - double(n_forced) * tok - fixed_bytes();
  if (ctx.page_budget_bytes < 0)
    throw Error("budget " + opt_.budget.describe() + " (" + fmt_bytes(budget_bytes()) + " at " + std::to_string(N) +
                " tokens) is below what the fp16 hot window and sinks need (" +
                fmt_bytes(double(n_forced) * tok + fixed_bytes() + double(opt_.retier_every) * growth) +
                "); raise the budget or lower --hot-window/--retier-every");
  for (auto& L : layers_) {
    LayerView v;
    v.keys = at::zeros({Hkv, N, d}, at::kFloat);
    v.values = at::zeros({Hkv, N, d}, at::kFloat);
    auto hp = L.hot_pos.narrow(0, 0, L.n_hot);
    v.keys.index_copy_(1, hp, L.hot_k.narrow(1, 0, L.n_hot));
    v.values.index_copy_(1, hp, L.hot_v.narrow(1, 0, L.n_hot));
    for (int64_t h = 0; h < Hkv; ++h) {
      const HeadState& H = L.heads[size_t(h)];
      if (H.pos.size(0) == 0) continue;
      v.keys[h].index_copy_(0, H.pos, H.kdec);
      v.values[h].index_copy_(0, H.pos, H.vdec);
    }
    v.current = L.tier.narrow(1, 0, N).clone();
    const int64_t W = L.obs_count;
    // Ring in chronological order.
    auto idx = (at::arange(W, at::kLong) + (L.obs_next - W + opt_.obs_window)) % opt_.obs_window;
    v.obs_queries = L.obs_q.index_select(1, idx);
    v.obs_pos = L.obs_pos.index_select(0, idx);
    v.accumulated = L.acc.narrow(1, 0, N).to(at::kFloat);
    v.seen_by = (N - pos).to(at::kFloat);
    ctx.layers.push_back(std::move(v));
  }
  Assignment a = policy_->assign(ctx);
  if (int64_t(a.size()) != config_.n_layers) throw Error("policy " + policy_->name() + " returned a wrong number of layers");
  const double bytes = assignment_page_bytes(ctx, a);
  if (bytes > ctx.page_budget_bytes * (1 + 1e-12))
    throw Error("policy " + policy_->name() + " exceeded its page budget (" + fmt_bytes(bytes) + " > " +
                fmt_bytes(ctx.page_budget_bytes) + "); this is a bug in the policy");
  apply_assignment(ctx, a);
  compressed_ = true;
  steps_since_retier_ = 0;
  ++retier_count_;
}

void TieredKvCache::apply_assignment(const PolicyContext& ctx, const Assignment& a) {
  const int64_t N = ctx.n_tokens, Hkv = config_.n_kv_heads, d = config_.head_dim;
  auto forced = ctx.forced.contiguous();
  const bool* forced_p = forced.data_ptr<bool>();
  for (size_t l = 0; l < layers_.size(); ++l) {
    LayerState& L = layers_[l];
    const LayerView& view = ctx.layers[l];
    auto cur = view.current.contiguous();
    auto asg = a[l].to(at::kInt).contiguous();
    auto keys = view.keys.contiguous(), values = view.values.contiguous();
    // Old pages keyed by (head, tier, positions) so unchanged pages are copied, not re-encoded.
    std::map<std::tuple<int64_t, uint32_t, std::vector<int64_t>>, int32_t> old_pages;
    for (int64_t h = 0; h < Hkv; ++h)
      for (int32_t p : L.heads[size_t(h)].pages)
        old_pages[{h, L.pages[size_t(p)].tier, L.page_pos[size_t(p)]}] = p;
    struct NewPage {
      int64_t head;
      uint32_t tier;
      std::vector<int64_t> pos;
      int32_t reuse;
    };
    std::vector<NewPage> plan;
    int32_t* new_tier_p = L.tier.data_ptr<int32_t>();  // [Hkv, capacity] contiguous
    std::vector<std::vector<int64_t>> dropped(static_cast<size_t>(Hkv));
    for (int64_t h = 0; h < Hkv; ++h) {
      const int32_t* c = cur.data_ptr<int32_t>() + h * N;
      const int32_t* t = asg.data_ptr<int32_t>() + h * N;
      int32_t* new_tier = new_tier_p + h * capacity_;
      std::vector<std::vector<int64_t>> by_tier(tiers_.size());
      for (int64_t j = 0; j < N; ++j) {
        if (c[j] == kDropTier) continue;
        if (forced_p[j]) {
          new_tier[j] = kHotTier;
          continue;
        }
        if (t[j] < 0 || t[j] >= int32_t(tiers_.size())) {
          new_tier[j] = kDropTier;
          dropped[size_t(h)].push_back(j);
          continue;
        }
        by_tier[size_t(t[j])].push_back(j);
        new_tier[j] = t[j];
      }
      for (size_t ti = 0; ti < tiers_.size(); ++ti) {
        const int64_t P = tiers_[ti].layout.page_tokens;
        const auto& list = by_tier[ti];
        for (size_t s = 0; s < list.size(); s += size_t(P)) {
          NewPage np{h, uint32_t(ti), std::vector<int64_t>(list.begin() + long(s),
                                                           list.begin() + long(std::min(list.size(), s + size_t(P)))), -1};
          auto it = old_pages.find({h, np.tier, np.pos});
          if (it != old_pages.end()) np.reuse = it->second;
          plan.push_back(std::move(np));
        }
      }
    }
    // Completion summaries take the dropped tokens (before their data is gone).
    if (!completion_.empty())
      for (int64_t h = 0; h < Hkv; ++h)
        if (!dropped[size_t(h)].empty()) {
          auto idx = at::from_blob(dropped[size_t(h)].data(), {int64_t(dropped[size_t(h)].size())}, at::kLong).clone();
          add_to_completion(L.heads[size_t(h)], keys[h].index_select(0, idx), values[h].index_select(0, idx));
        }
    // New arena: pages in plan order (head-major, tier, position).
    size_t total = 0;
    std::vector<size_t> offsets;
    for (const auto& np : plan) {
      offsets.push_back(total);
      total += tiers_[np.tier].stored_page_bytes;
    }
    auto arena = at::zeros({int64_t(std::max<size_t>(total, 16))}, at::kByte);
    std::vector<kernels::PageInfo> pages(plan.size());
    std::vector<std::vector<int64_t>> page_pos(plan.size());
    // On the CUDA path the new pages are encoded on the GPU (kernels::ada_encode), the reused ones
    // copied here; the host arena gets the result back (the CPU code reads it).
    const bool gpu_encode = use_cuda_kernels(1) && std::all_of(plan.begin(), plan.end(), [&](const NewPage& np) {
      return tiers_[np.tier].kivi_bits == 0;
    });
    std::vector<kernels::EncodeJob> jobs;
    std::vector<int64_t> job_rows;  // (head * N + position) of every row the jobs read, in order
    auto cpu_encode = [&](size_t i, std::vector<float>& kbuf, std::vector<float>& vbuf, std::vector<float>& kq,
                          std::vector<float>& vq) {
      const NewPage& np = plan[i];
      const CacheTier& tier = tiers_[np.tier];
      const int n = int(np.pos.size());
      kbuf.resize(size_t(n) * d);
      vbuf.resize(size_t(n) * d);
      for (int j = 0; j < n; ++j) {
        std::memcpy(&kbuf[size_t(j) * d], keys.data_ptr<float>() + (np.head * N + np.pos[size_t(j)]) * d, size_t(d) * 4);
        std::memcpy(&vbuf[size_t(j) * d], values.data_ptr<float>() + (np.head * N + np.pos[size_t(j)]) * d, size_t(d) * 4);
      }
      if (tier.kivi_bits > 0) {
        kq.resize(kbuf.size());
        vq.resize(vbuf.size());
        kivi_quantize(tier.kivi_bits, n, int(d), kbuf.data(), vbuf.data(), kq.data(), vq.data());
        kbuf.swap(kq);
        vbuf.swap(vq);
      }
      kernels::cpu::encode_page(tier.layout, table_.codebooks[np.tier], L.signs.data() + np.head * d, kbuf.data(),
                                vbuf.data(), n, 0, true, arena.data_ptr<uint8_t>() + offsets[i]);
    };
    // Pages are independent (each writes its own bytes): copied or encoded in parallel.
    at::parallel_for(0, int64_t(plan.size()), 4, [&](int64_t begin, int64_t end) {
      std::vector<float> kbuf, vbuf, kq, vq;
      for (size_t i = size_t(begin); i < size_t(end); ++i) {
        const NewPage& np = plan[i];
        pages[i] = {uint64_t(offsets[i]), np.tier, uint32_t(np.pos.size())};
        page_pos[i] = np.pos;
        if (np.reuse >= 0)
          std::memcpy(arena.data_ptr<uint8_t>() + offsets[i],
                      L.arena.data_ptr<uint8_t>() + L.pages[size_t(np.reuse)].byte_offset, tiers_[np.tier].stored_page_bytes);
        else if (!gpu_encode)
          cpu_encode(i, kbuf, vbuf, kq, vq);
      }
    });
    if (gpu_encode) {
      for (size_t i = 0; i < plan.size(); ++i) {
        const NewPage& np = plan[i];
        if (np.reuse >= 0) continue;
        jobs.push_back({uint64_t(offsets[i]), int32_t(job_rows.size()), int32_t(np.pos.size()), 0, int32_t(np.head),
                        np.tier, 1});
        for (int64_t p : np.pos) job_rows.push_back(np.head * N + p);
      }
      try {
        if (!jobs.empty()) encode_on_device(L, int64_t(l), keys, values, job_rows, jobs, arena);
      } catch (const KernelError&) {  // a tier the CUDA encoder does not take: the CPU encodes it
        std::vector<float> kbuf, vbuf, kq, vq;
        for (size_t i = 0; i < plan.size(); ++i)
          if (plan[i].reuse < 0) cpu_encode(i, kbuf, vbuf, kq, vq);
      }
    }
    L.arena = arena;
    L.pages = std::move(pages);
    L.page_pos = std::move(page_pos);
    L.indptr.assign(size_t(Hkv) + 1, 0);
    L.indices.clear();
    for (int64_t h = 0; h < Hkv; ++h) {
      std::vector<int32_t> ids;
      for (size_t i = 0; i < plan.size(); ++i)
        if (plan[i].head == h) ids.push_back(int32_t(i));
      std::sort(ids.begin(), ids.end(), [&](int32_t x, int32_t y) { return L.page_pos[size_t(x)][0] < L.page_pos[size_t(y)][0]; });
      L.heads[size_t(h)].pages = ids;
      L.indices.insert(L.indices.end(), ids.begin(), ids.end());
      L.indptr[size_t(h) + 1] = int32_t(L.indices.size());
    }
    // Hot window keeps the forced tokens only (positions ascending).
    auto hp = L.hot_pos.narrow(0, 0, L.n_hot);
    auto keep = forced.index_select(0, hp).nonzero().reshape({-1});
    const int64_t n_keep = keep.size(0);
    auto hk = L.hot_k.index_select(1, keep), hv = L.hot_v.index_select(1, keep);
    auto hpk = hp.index_select(0, keep);
    L.hot_k.narrow(1, 0, n_keep).copy_(hk);
    L.hot_v.narrow(1, 0, n_keep).copy_(hv);
    L.hot_pos.narrow(0, 0, n_keep).copy_(hpk);
    L.n_hot = L.host_rows = n_keep;
    L.epoch = next_epoch_++;
    rebuild_head_views(L);
  }
}

void TieredKvCache::rebuild_head_views(LayerState& L) {
  const int64_t d = config_.head_dim;
  for (size_t h = 0; h < L.heads.size(); ++h) {
    HeadState& H = L.heads[h];
    int64_t ns = 0;
    H.page_row.clear();
    for (int32_t p : H.pages) {
      H.page_row.push_back(ns);
      ns += L.pages[size_t(p)].tokens;
    }
    H.kdec = at::empty({ns, d}, at::kFloat);
    H.vdec = at::empty({ns, d}, at::kFloat);
    H.pos = at::empty({ns}, at::kLong);
    H.page_kmin = at::empty({int64_t(H.pages.size()), d}, at::kFloat);
    H.page_kmax = at::empty({int64_t(H.pages.size()), d}, at::kFloat);
    // Pages decode into disjoint rows: in parallel.
    at::parallel_for(0, int64_t(H.pages.size()), 4, [&](int64_t begin, int64_t end) {
      for (size_t pi = size_t(begin); pi < size_t(end); ++pi) {
        const kernels::PageInfo& pg = L.pages[size_t(H.pages[pi])];
        const uint8_t* page = L.arena.data_ptr<uint8_t>() + pg.byte_offset;
        const int64_t r0 = H.page_row[pi];
        float* kd = H.kdec.data_ptr<float>() + r0 * d;
        kernels::cpu::decode_keys(table_.layouts[pg.tier], table_.codebooks[pg.tier], L.signs.data() + h * d, page,
                                  int(pg.tokens), kd);
        kernels::cpu::decode_values(table_.layouts[pg.tier], table_.codebooks[pg.tier], L.signs.data() + h * d, page,
                                    int(pg.tokens), H.vdec.data_ptr<float>() + r0 * d);
        const auto& pp = L.page_pos[size_t(H.pages[pi])];
        std::copy(pp.begin(), pp.end(), H.pos.data_ptr<int64_t>() + r0);
        float* lo = H.page_kmin.data_ptr<float>() + int64_t(pi) * d;
        float* hi = H.page_kmax.data_ptr<float>() + int64_t(pi) * d;
        std::copy(kd, kd + d, lo);
        std::copy(kd, kd + d, hi);
        for (uint32_t j = 1; j < pg.tokens; ++j)
          for (int64_t e = 0; e < d; ++e) {
            lo[e] = std::min(lo[e], kd[j * d + e]);
            hi[e] = std::max(hi[e], kd[j * d + e]);
          }
      }
    });
    if (!completion_.empty() && policy_->query_page_budget_tokens(length_) >= 0) {
      const int64_t np = int64_t(H.pages.size()), m = opt_.completion_features;
      H.page_s = at::zeros({np, m, d}, at::kDouble);
      H.page_z = at::zeros({np, m}, at::kDouble);
      H.page_off = at::zeros({np, m}, at::kDouble);
      const double scale = std::pow(double(d), 0.25);
      for (int64_t pi = 0; pi < np; ++pi) {
        const int64_t r0 = H.page_row[size_t(pi)], n = L.pages[size_t(H.pages[size_t(pi)])].tokens;
        auto ks = H.kdec.narrow(0, r0, n).to(at::kDouble) / scale;
        auto a = at::matmul(ks, feature_w_.t()) - 0.5 * ks.pow(2).sum(1, true);  // [n, m]
        auto off = a.amax(0);
        auto e = (a - off.unsqueeze(0)).exp();
        H.page_s[pi].copy_(at::matmul(e.t(), H.vdec.narrow(0, r0, n).to(at::kDouble)));
        H.page_z[pi].copy_(e.sum(0));
        H.page_off[pi].copy_(off);
      }
    }
  }
}

void TieredKvCache::add_to_completion(HeadState& H, const at::Tensor& k, const at::Tensor& v) {
  const double d = double(config_.head_dim);
  auto ks = k.to(at::kDouble) / std::pow(d, 0.25);
  auto a = at::matmul(ks, feature_w_.t()) - 0.5 * ks.pow(2).sum(1, true);  // [n, m]
  auto new_off = at::maximum(H.comp_off, a.amax(0));
  auto keep = (H.comp_off - new_off).exp().nan_to_num(0.0);  // old offset -inf: nothing to keep
  auto e = (a - new_off.unsqueeze(0)).exp();                  // [n, m]
  H.comp_s = H.comp_s * keep.unsqueeze(1) + at::matmul(e.t(), v.to(at::kDouble));
  H.comp_z = H.comp_z * keep + e.sum(0);
  H.comp_off = new_off;
}

void TieredKvCache::adopt_prefill(const TieredKvCache& src) {
  if (src.compressed_) throw Error("tiered cache: can only adopt a prefill that was not compressed yet");
  if (layers_.size() != src.layers_.size() || capacity_ < src.length_)
    throw Error("tiered cache: adopt_prefill needs reset() with the same model and enough capacity");
  for (size_t l = 0; l < layers_.size(); ++l) {
    LayerState& L = layers_[l];
    const LayerState& S = src.layers_[l];
    const int64_t n = S.n_hot;
    L.hot_k.narrow(1, 0, n).copy_(S.hot_k.narrow(1, 0, n));
    L.hot_v.narrow(1, 0, n).copy_(S.hot_v.narrow(1, 0, n));
    L.hot_pos.narrow(0, 0, n).copy_(S.hot_pos.narrow(0, 0, n));
    if (S.host_rows != n) throw Error("tiered cache: adopt_prefill needs a source whose hot rows are on the host");
    L.n_hot = L.host_rows = n;
    L.epoch = next_epoch_++;
    L.tier.narrow(1, 0, src.length_).copy_(S.tier.narrow(1, 0, src.length_));
    L.obs_q.copy_(S.obs_q);
    L.obs_pos.copy_(S.obs_pos);
    L.obs_count = S.obs_count;
    L.obs_next = S.obs_next;
    L.acc.narrow(1, 0, src.length_).copy_(S.acc.narrow(1, 0, src.length_));
    if (opt_.track_errors) {
      if (!S.shadow_k.defined())
        throw Error("tiered cache: error tracking needs a prefill source that tracked errors too");
      L.shadow_k.narrow(1, 0, src.length_).copy_(S.shadow_k.narrow(1, 0, src.length_));
      L.shadow_v.narrow(1, 0, src.length_).copy_(S.shadow_v.narrow(1, 0, src.length_));
    }
  }
  length_ = src.length_;
}


// ---------------------------------------------------------------------------------------------
namespace {
kernels::TierLayout hot_page_layout(int64_t d) {
  kernels::TierLayout f16;
  f16.head_dim = int(d);
  f16.key_kind = kernels::KeyKind::kFp16;
  f16.value_kind = kernels::ValueKind::kFp16;
  f16.page_tokens = 64;
  return f16;
}
}  // namespace

void TieredKvCache::stage_table(const LayerState& L, size_t sealed, int64_t hot_cap, StagedTable& S) const {
  const int64_t Hkv = config_.n_kv_heads;
  S.table = table_;
  if (S.table.count >= kernels::kMaxTiers) throw Error("tiered cache: no tier slot left for the hot window's fp16 pages");
  const int ftier = S.table.count++;
  const kernels::TierLayout f16 = hot_page_layout(config_.head_dim);
  S.table.layouts[ftier] = f16;
  S.table.codebooks[ftier] = {};
  S.hot_page_bytes = kernels::page_offsets(f16).total;
  const int64_t P = f16.page_tokens, hot_pages = (L.n_hot + P - 1) / P;
  if (hot_pages > hot_cap) throw Error("tiered cache: staged hot window over its page capacity");
  S.pages = L.pages;
  S.indptr.assign(1, 0);
  S.indices.clear();
  for (int64_t h = 0; h < Hkv; ++h) {
    const HeadState& H = L.heads[size_t(h)];
    S.indices.insert(S.indices.end(), H.pages.begin(), H.pages.end());
    for (int64_t j = 0; j < hot_pages; ++j) {
      const size_t off = sealed + size_t(h * hot_cap + j) * S.hot_page_bytes;
      S.indices.push_back(int32_t(S.pages.size()));
      S.pages.push_back({uint64_t(off), uint32_t(ftier), uint32_t(std::min(P, L.n_hot - j * P))});
    }
    S.indptr.push_back(int32_t(S.indices.size()));
  }
}

void TieredKvCache::stage_hot_rows(const LayerState& L, int64_t row0, size_t sealed, int64_t hot_cap, uint8_t* arena) const {
  const int64_t Hkv = config_.n_kv_heads, d = config_.head_dim;
  const kernels::TierLayout f16 = hot_page_layout(d);
  const kernels::PageOffsets fo = kernels::page_offsets(f16);
  const int64_t P = f16.page_tokens, n = L.n_hot - row0;
  if (n <= 0) return;
  auto hk = L.hot_k.narrow(1, row0, n).to(at::kHalf).contiguous();  // [Hkv, n, d], exact (fp16-rounded)
  auto hv = L.hot_v.narrow(1, row0, n).to(at::kHalf).contiguous();
  const size_t row = size_t(d) * 2;
  for (int64_t h = 0; h < Hkv; ++h)
    for (int64_t r = row0; r < L.n_hot;) {  // a run of rows inside one page
      const int64_t j = r / P, s0 = r % P, m = std::min(P - s0, L.n_hot - r);
      uint8_t* page = arena + sealed + size_t(h * hot_cap + j) * fo.total;
      const size_t src = size_t((h * n + (r - row0))) * row;
      std::memcpy(page + fo.key_codes + size_t(s0) * row, static_cast<const uint8_t*>(hk.data_ptr()) + src, size_t(m) * row);
      std::memcpy(page + fo.values + size_t(s0) * row, static_cast<const uint8_t*>(hv.data_ptr()) + src, size_t(m) * row);
      r += m;
    }
}

kernels::PagedKv TieredKvCache::staged_view(int64_t layer) {
  pull_hot_rows(layers_.at(size_t(layer)), layer);
  const LayerState& L = layers_.at(size_t(layer));
  const int64_t P = hot_page_layout(config_.head_dim).page_tokens, hot_cap = (L.n_hot + P - 1) / P;
  const size_t sealed = size_t(L.arena.numel());  // a multiple of 16 (pages are)
  stage_table(L, sealed, hot_cap, staged_);
  staged_arena_ = at::zeros({int64_t(sealed + size_t(config_.n_kv_heads * hot_cap) * staged_.hot_page_bytes)}, at::kByte);
  if (sealed) std::memcpy(staged_arena_.data_ptr<uint8_t>(), L.arena.data_ptr<uint8_t>(), sealed);
  stage_hot_rows(L, 0, sealed, hot_cap, staged_arena_.data_ptr<uint8_t>());
  kernels::PagedKv kv;
  kv.arena = staged_arena_.data_ptr<uint8_t>();
  kv.pages = staged_.pages.data();
  kv.indptr = staged_.indptr.data();
  kv.indices = staged_.indices.empty() ? nullptr : staged_.indices.data();
  kv.signs = L.signs.data();
  kv.batch = 1;
  kv.num_kv_heads = int(config_.n_kv_heads);
  kv.head_dim = int(config_.head_dim);
  kv.tiers = staged_.table;
  return kv;
}

void TieredKvCache::store_rows_on_host(LayerState& L, int64_t layer, const AttentionCall& call) {
  const int64_t T = call.k.size(2), row0 = L.n_hot - T;
  if (L.host_rows < row0) pull_hot_rows(L, layer, row0);
  L.hot_k.narrow(1, row0, T).copy_(fp16_round(call.k[0].to(at::kCPU, at::kFloat)));  // [Hkv, T, d]
  L.hot_v.narrow(1, row0, T).copy_(fp16_round(call.v[0].to(at::kCPU, at::kFloat)));
  L.host_rows = L.n_hot;
}

void TieredKvCache::pull_hot_rows(LayerState& L, int64_t layer, int64_t upto) {
  if (upto < 0) upto = L.n_hot;
  if (L.host_rows >= upto) return;
  const DeviceLayer* D = size_t(layer) < dev_.layers.size() ? &dev_.layers[size_t(layer)] : nullptr;
  if (!D || !D->arena.defined() || D->epoch != L.epoch || D->n_hot < upto)
    throw Error("tiered cache: hot rows " + std::to_string(L.host_rows) + ".." + std::to_string(upto) +
                " of layer " + std::to_string(layer) + " are neither on the host nor on the device");
  const int64_t Hkv = config_.n_kv_heads, d = config_.head_dim;
  const kernels::PageOffsets fo = kernels::page_offsets(hot_page_layout(d));
  const int64_t P = hot_page_layout(d).page_tokens, head_stride = D->hot_cap * int64_t(fo.total) / 2;
  const auto half_dev = at::TensorOptions().dtype(at::kHalf).device(device_);
  for (int64_t r = L.host_rows; r < upto;) {  // a run of rows inside one page, every kv head
    const int64_t j = r / P, s0 = r % P, m = std::min(P - s0, upto - r);
    uint8_t* page0 = D->arena.data_ptr<uint8_t>() + D->sealed + size_t(j) * fo.total;
    for (auto [dst, at_off] : {std::pair{&L.hot_k, fo.key_codes}, std::pair{&L.hot_v, fo.values}}) {
      auto src = at::from_blob(page0 + at_off + size_t(s0 * d) * 2, {Hkv, m, d}, {head_stride, d, 1}, half_dev);
      dst->narrow(1, r, m).copy_(src.to(at::kCPU).to(at::kFloat));
    }
    r += m;
  }
  L.host_rows = upto;
}

void TieredKvCache::ensure_device_levels() {
  if (!dev_.levels.empty()) return;  // the tiers' codebooks on the device (fixed for the cache's life)
  auto up = [&](const float* p, size_t n) {
    return at::from_blob(const_cast<float*>(p), {int64_t(n)}, at::kFloat).to(device_);
  };
  for (int t = 0; t < table_.count; ++t) {
    const kernels::TierLayout& tl = table_.layouts[t];
    const auto& cb = table_.codebooks[t];
    dev_.levels.push_back(cb.key_levels ? up(cb.key_levels, size_t(kernels::key_level_count(tl))) : at::Tensor());
    dev_.levels.push_back(cb.value_levels ? up(cb.value_levels, size_t(kernels::value_level_count(tl))) : at::Tensor());
  }
}

// The layer's Hadamard signs on the device (fixed for the cache's life: uploaded once).
const at::Tensor& TieredKvCache::device_signs(const LayerState& L, int64_t layer) {
  if (dev_.layers.size() != layers_.size()) dev_.layers.assign(layers_.size(), DeviceLayer{});
  at::Tensor& s = dev_.layers[size_t(layer)].signs;
  if (!s.defined()) s = at::from_blob(const_cast<int8_t*>(L.signs.data()), {int64_t(L.signs.size())}, at::kChar).to(device_);
  return s;
}

kernels::TierTable TieredKvCache::device_tier_table() const {
  kernels::TierTable tt = table_;
  for (int t = 0; t < table_.count; ++t) {
    const at::Tensor &kl = dev_.levels[size_t(2 * t)], &vl = dev_.levels[size_t(2 * t + 1)];
    tt.codebooks[t] = {kl.defined() ? kl.data_ptr<float>() : nullptr, vl.defined() ? vl.data_ptr<float>() : nullptr,
                       kernels::codebooks_symmetric(table_.layouts[t], table_.codebooks[t].key_levels,
                                                    table_.codebooks[t].value_levels)};
  }
  return tt;
}

// The new pages of a re-tiering encoded by kernels::ada_encode: their rows (gathered from the
// layer view, float) go up, the host arena (reused pages already in place) goes up, the jobs
// write the new pages into it, and it comes back (the host code reads the pages).
void TieredKvCache::encode_on_device(const LayerState& L, int64_t layer, const at::Tensor& keys, const at::Tensor& values,
                                     const std::vector<int64_t>& rows, const std::vector<kernels::EncodeJob>& jobs,
                                     at::Tensor& arena) {
  const int64_t d = config_.head_dim;
  ensure_device_levels();
  auto idx = at::from_blob(const_cast<int64_t*>(rows.data()), {int64_t(rows.size())}, at::kLong);
  auto k = keys.reshape({-1, d}).index_select(0, idx).to(device_);  // [rows, d] float
  auto v = values.reshape({-1, d}).index_select(0, idx).to(device_);
  auto dj = at::from_blob(const_cast<kernels::EncodeJob*>(jobs.data()), {int64_t(jobs.size() * sizeof(kernels::EncodeJob))},
                          at::kByte).to(device_);
  auto da = arena.to(device_);
  kernels::ada_encode(device_tier_table(), device_signs(L, layer).data_ptr<int8_t>(), int(d), k.data_ptr<float>(), v.data_ptr<float>(),
                      reinterpret_cast<const kernels::EncodeJob*>(dj.data_ptr()), int(jobs.size()), da.data_ptr<uint8_t>(),
                      nullptr);
  arena.copy_(da);  // synchronous: the host arena holds the encoded pages
  dev_.gpu_encoded_pages += int64_t(jobs.size());
}

bool TieredKvCache::use_cuda_kernels(int64_t T) const { return cuda_path_ && T == 1 && dev_.fallback.empty(); }

// Policy "ada" (make_policy names it "ada(<tier>)"): one tier for every sealed token, no
// attention-based utilities, page selection or completion: what the CUDA path serves.
bool TieredKvCache::uniform_tier_policy() const { return policy_->name().rfind("ada(", 0) == 0; }

std::string TieredKvCache::attention_path() const {
  if (dev_.last) return "cuda kernels";
  if (!dev_.fallback.empty()) return "cpu reference (CUDA kernels unavailable: " + dev_.fallback + ")";
  return "cpu reference";
}

// A decode step on the GPU: the layer's device arena brought up to date (whole after a
// re-tiering, else the new token's rows written on the device), the page table uploaded, the ADA
// CUDA kernels run (the table holds an fp16 tier, so auto picks v5), the output left on the device.
// The same bytes are counted as read as on the CPU path; the accumulated attention (H2O) is not
// kept (policy "ada" needs none).
at::Tensor TieredKvCache::attend_layer_cuda(LayerState& L, int64_t layer, const AttentionCall& call) {
  const int64_t Hq = config_.n_heads, Hkv = config_.n_kv_heads, d = config_.head_dim;
  const at::TensorOptions bytes_on_dev = at::TensorOptions().dtype(at::kByte).device(device_);
  ensure_device_levels();
  const at::Tensor& signs = device_signs(L, layer);
  DeviceLayer& D = dev_.layers[size_t(layer)];
  const kernels::TierLayout f16 = hot_page_layout(d);
  const kernels::PageOffsets fo = kernels::page_offsets(f16);
  const int64_t P = f16.page_tokens, T = call.k.size(2);
  const bool append = D.epoch == L.epoch && D.n_hot + T == L.n_hot && (L.n_hot + P - 1) / P <= D.hot_cap;
  if (!append) {  // whole upload: sealed pages, then the hot pages with room for a re-tiering period
    store_rows_on_host(L, layer, call);  // rows still only on the device come back first
    D.sealed = size_t(L.arena.numel());
    D.hot_cap = (L.n_hot + opt_.retier_every + P) / P + 1;
    auto host = at::zeros({int64_t(D.sealed + size_t(Hkv * D.hot_cap) * fo.total)}, at::kByte);
    if (D.sealed) std::memcpy(host.data_ptr<uint8_t>(), L.arena.data_ptr<uint8_t>(), D.sealed);
    stage_hot_rows(L, 0, D.sealed, D.hot_cap, host.data_ptr<uint8_t>());
    D.arena = host.to(device_);
    D.epoch = L.epoch;
    ++dev_.uploads;
  } else {  // the call's new rows, straight from its device tensors, into every kv head's hot page
    const auto half_dev = at::TensorOptions().dtype(at::kHalf).device(device_);
    const int64_t head_stride = D.hot_cap * int64_t(fo.total) / 2;  // in halfs
    for (int64_t t = 0; t < T; ++t) {
      const int64_t r = D.n_hot + t, j = r / P, s0 = r % P;
      uint8_t* page0 = D.arena.data_ptr<uint8_t>() + D.sealed + size_t(j) * fo.total;
      for (auto [src, at_off] : {std::pair{&call.k, fo.key_codes}, std::pair{&call.v, fo.values}}) {
        auto dst = at::from_blob(page0 + at_off + size_t(s0 * d) * 2, {Hkv, d}, {head_stride, 1}, half_dev);
        dst.copy_((*src)[0].select(1, t));
      }
    }
  }
  D.n_hot = L.n_hot;
  // The page table: pages, indptr, indices in one upload.
  stage_table(L, D.sealed, D.hot_cap, staged_);
  const size_t pb = staged_.pages.size() * sizeof(kernels::PageInfo), ib = staged_.indptr.size() * sizeof(int32_t),
               xb = staged_.indices.size() * sizeof(int32_t);
  // Pinned and non-blocking: no sync (torch's host allocator keeps the block until the copy is done).
  auto packed = at::empty({int64_t(pb + ib + xb)}, at::TensorOptions().dtype(at::kByte).pinned_memory(true));
  std::memcpy(packed.data_ptr<uint8_t>(), staged_.pages.data(), pb);
  std::memcpy(packed.data_ptr<uint8_t>() + pb, staged_.indptr.data(), ib);
  if (xb) std::memcpy(packed.data_ptr<uint8_t>() + pb + ib, staged_.indices.data(), xb);
  dev_.table = packed.to(at::TensorOptions().device(device_), /*non_blocking=*/true);
  kernels::PagedKv kv;
  kv.arena = D.arena.data_ptr<uint8_t>();
  kv.pages = reinterpret_cast<const kernels::PageInfo*>(dev_.table.data_ptr<uint8_t>());
  kv.indptr = reinterpret_cast<const int32_t*>(dev_.table.data_ptr<uint8_t>() + pb);
  kv.indices = xb ? reinterpret_cast<const int32_t*>(dev_.table.data_ptr<uint8_t>() + pb + ib) : nullptr;
  kv.signs = signs.data_ptr<int8_t>();
  kv.batch = 1;
  kv.num_kv_heads = int(Hkv);
  kv.head_dim = int(d);
  kv.tiers = staged_.table;
  const kernels::TierTable dt = device_tier_table();
  for (int t = 0; t < table_.count; ++t) kv.tiers.codebooks[t] = dt.codebooks[t];
  int max_pages = 1;
  for (int64_t h = 0; h < Hkv; ++h) max_pages = std::max(max_pages, staged_.indptr[size_t(h + 1)] - staged_.indptr[size_t(h)]);
  auto qd = call.q[0].select(1, T - 1).to(device_, at::kFloat).contiguous();  // [Hq, d] on the device
  auto out = at::empty({Hq, 1, d}, qd.options());
  const size_t ws = kernels::ada_decode_workspace_bytes(kv, int(Hq), max_pages);
  if (!dev_.workspace.defined() || size_t(dev_.workspace.numel()) < ws)
    dev_.workspace = at::empty({int64_t(std::max<size_t>(ws, 16))}, bytes_on_dev);
  kernels::DecodeArgs a;
  a.q = qd.data_ptr<float>();
  a.out = out.data_ptr<float>();
  a.num_q_heads = int(Hq);
  a.max_pages_per_head = max_pages;
  a.workspace = dev_.workspace.data_ptr();
  a.workspace_bytes = ws;
  kernels::ada_decode_attention(kv, a);  // the default stream, as torch's copies around it
  ++dev_.steps;
  // What the CPU path counts as read: the hot window and every sealed page.
  L.read_subset = false;
  L.read_indptr.assign(1, 0);
  L.read_indices.clear();
  L.read_selection = 0;
  for (int64_t h = 0; h < Hkv; ++h) {
    read_bytes_acc_ += double(L.n_hot) * 4.0 * double(d);
    for (int32_t p : L.heads[size_t(h)].pages) read_bytes_acc_ += double(tiers_[L.pages[size_t(p)].tier].stored_page_bytes);
  }
  return out;
}
// ---------------------------------------------------------------------------------------------
at::Tensor TieredKvCache::tier_map(int64_t layer) const { return layers_.at(size_t(layer)).tier.narrow(1, 0, length_).clone(); }

kernels::PagedKv TieredKvCache::paged_view(int64_t layer) const {
  const LayerState& L = layers_.at(size_t(layer));
  kernels::PagedKv kv;
  kv.arena = L.arena.data_ptr<uint8_t>();
  kv.pages = L.pages.data();
  kv.indptr = L.indptr.data();
  kv.indices = L.indices.data();
  kv.signs = L.signs.data();
  kv.batch = 1;
  kv.num_kv_heads = int(config_.n_kv_heads);
  kv.head_dim = int(config_.head_dim);
  kv.tiers = table_;
  return kv;
}

kernels::PagedKv TieredKvCache::read_view(int64_t layer) const {
  kernels::PagedKv kv = paged_view(layer);
  const LayerState& L = layers_.at(size_t(layer));
  if (L.read_subset && L.read_indptr.size() == size_t(config_.n_kv_heads) + 1) {
    kv.indptr = L.read_indptr.data();
    kv.indices = L.read_indices.empty() ? nullptr : L.read_indices.data();
  }
  return kv;
}

double TieredKvCache::read_selection_bytes(int64_t layer) const { return layers_.at(size_t(layer)).read_selection; }

at::Tensor TieredKvCache::sealed_keys(int64_t l, int64_t h) const { return layers_.at(size_t(l)).heads.at(size_t(h)).kdec; }
at::Tensor TieredKvCache::sealed_values(int64_t l, int64_t h) const { return layers_.at(size_t(l)).heads.at(size_t(h)).vdec; }
at::Tensor TieredKvCache::sealed_positions(int64_t l, int64_t h) const { return layers_.at(size_t(l)).heads.at(size_t(h)).pos; }

at::Tensor TieredKvCache::attention_error() const { return (err2_ / ref2_.clamp_min(1e-300)).sqrt(); }

}  // namespace skv
