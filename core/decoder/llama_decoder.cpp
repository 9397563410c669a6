#include "core/decoder/llama_decoder.h"

#include <cmath>

#include "core/common/error.h"

namespace skv {
namespace {

at::Tensor to_device(const HostTensor& t, const at::Device& device) {
  auto cpu = at::from_blob(const_cast<float*>(t.data.data()), t.shape, at::kFloat).clone();
  return cpu.to(device);
}

}  // namespace

LlamaDecoder::LlamaDecoder(const WeightSource& source, const at::Device& device)
    : config_(source.config()), device_(device) {
  config_.validate();
  auto load = [&](const std::string& name, std::vector<int64_t> expect) {
    HostTensor t = source.load(name);
    if (t.shape != expect) {
      std::string got, want;
      for (auto s : t.shape) got += (got.empty() ? "" : "x") + std::to_string(s);
      for (auto s : expect) want += (want.empty() ? "" : "x") + std::to_string(s);
      throw Error("tensor " + name + " has shape " + got + ", the config implies " + want);
    }
    return to_device(t, device_);
  };
  const auto& c = config_;
  const int64_t qdim = c.n_heads * c.head_dim, kvdim = c.n_kv_heads * c.head_dim;
  embed_ = load("token_embd.weight", {c.vocab_size, c.hidden});
  output_norm_ = load("output_norm.weight", {c.hidden});
  output_ = c.tied_embeddings ? embed_ : load("output.weight", {c.vocab_size, c.hidden});
  for (int64_t l = 0; l < c.n_layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    layers_.push_back(Layer{
        load(p + "attn_norm.weight", {c.hidden}), load(p + "attn_q.weight", {qdim, c.hidden}),
        load(p + "attn_k.weight", {kvdim, c.hidden}), load(p + "attn_v.weight", {kvdim, c.hidden}),
        load(p + "attn_output.weight", {c.hidden, qdim}), load(p + "ffn_norm.weight", {c.hidden}),
        load(p + "ffn_gate.weight", {c.ffn_hidden, c.hidden}),
        load(p + "ffn_up.weight", {c.ffn_hidden, c.hidden}),
        load(p + "ffn_down.weight", {c.hidden, c.ffn_hidden})});
  }
  // inv_freq[i] = theta^(-2i/d), computed in float64 then rounded once.
  auto i = at::arange(c.head_dim / 2, at::TensorOptions().dtype(at::kDouble));
  inv_freq_ = at::pow(c.rope_theta, -2.0 * i / static_cast<double>(c.head_dim)).to(at::kFloat).to(device_);
}

at::Tensor LlamaDecoder::rms_norm(const at::Tensor& x, const at::Tensor& w) const {
  auto var = x.pow(2).mean(-1, /*keepdim=*/true);
  return x * at::rsqrt(var + config_.rms_eps) * w;
}

at::Tensor LlamaDecoder::apply_rope(const at::Tensor& x, int64_t start_pos) const {
  const int64_t T = x.size(2), d = x.size(3);
  auto pos = at::arange(start_pos, start_pos + T, at::TensorOptions().dtype(at::kFloat).device(device_));
  auto angles = at::outer(pos, inv_freq_);  // [T, d/2]
  auto cos = angles.cos(), sin = angles.sin();
  at::Tensor x1, x2;
  if (config_.rope_style == RopeStyle::Interleaved) {  // pairs (2i, 2i+1)
    auto xp = x.reshape({x.size(0), x.size(1), T, d / 2, 2});
    x1 = xp.select(-1, 0);
    x2 = xp.select(-1, 1);
    auto r1 = x1 * cos - x2 * sin, r2 = x1 * sin + x2 * cos;
    return at::stack({r1, r2}, -1).reshape(x.sizes());
  }
  x1 = x.narrow(-1, 0, d / 2);  // pairs (i, i + d/2)
  x2 = x.narrow(-1, d / 2, d / 2);
  return at::cat({x1 * cos - x2 * sin, x1 * sin + x2 * cos}, -1);
}

at::Tensor LlamaDecoder::run_blocks(const at::Tensor& ids, int64_t start_pos,
                                    AttentionBackend& backend, int64_t n_layers) {
  const auto& c = config_;
  if (n_layers < 0 || n_layers > c.n_layers) n_layers = c.n_layers;
  const int64_t B = ids.size(0), T = ids.size(1);
  if (start_pos + T > c.context_length)
    throw Error("sequence of " + std::to_string(start_pos + T) + " tokens exceeds the model's context of " +
                std::to_string(c.context_length));
  auto x = at::embedding(embed_, ids.to(device_));
  for (int64_t l = 0; l < n_layers; ++l) {
    const Layer& L = layers_[l];
    auto h = rms_norm(x, L.attn_norm);
    auto q = at::linear(h, L.wq).view({B, T, c.n_heads, c.head_dim}).transpose(1, 2);
    auto k = at::linear(h, L.wk).view({B, T, c.n_kv_heads, c.head_dim}).transpose(1, 2);
    auto v = at::linear(h, L.wv).view({B, T, c.n_kv_heads, c.head_dim}).transpose(1, 2).contiguous();
    AttentionCall call{l, start_pos, apply_rope(q, start_pos).contiguous(),
                       apply_rope(k, start_pos).contiguous(), v};
    if (observer_) observer_(call);
    if (hook_) hook_->before_attention(call);
    auto o = backend.attend(call);  // [B, Hq, T, d]
    if (hook_) hook_->after_attention(call, backend);
    x = x + at::linear(o.transpose(1, 2).reshape({B, T, c.n_heads * c.head_dim}), L.wo);
    h = rms_norm(x, L.ffn_norm);
    x = x + at::linear(at::silu(at::linear(h, L.w_gate)) * at::linear(h, L.w_up), L.w_down);
  }
  return x;
}

at::Tensor LlamaDecoder::forward(const at::Tensor& ids, int64_t start_pos, AttentionBackend& backend,
                                 bool last_only, int64_t n_layers) {
  auto x = run_blocks(ids, start_pos, backend, n_layers);
  if (last_only) x = x.narrow(1, x.size(1) - 1, 1);
  return at::linear(rms_norm(x, output_norm_), output_);
}

at::Tensor LlamaDecoder::hidden_after(const at::Tensor& ids, int64_t n_layers, AttentionBackend& backend) {
  return run_blocks(ids, 0, backend, n_layers);
}

}  // namespace skv
