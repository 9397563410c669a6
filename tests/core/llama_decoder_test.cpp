// The libtorch decoder against an independent float64 re-implementation of the same math on the
// same (dequantized) weights of the real default model, plus end-to-end generation checks.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <cmath>
#include <map>
#include <vector>

#include "core/common/error.h"
#include "core/decoder/dense_kv_cache.h"
#include "core/decoder/generator.h"
#include "core/decoder/llama_decoder.h"
#include "core/model/model_bundle.h"

namespace skv {
namespace {

using Vec = std::vector<double>;

// Plain loops, double precision, one token at a time: deliberately nothing shared with the
// decoder but the weight loader.
class Float64Llama {
 public:
  explicit Float64Llama(const WeightSource& w) : c_(w.config()), w_(w) {}

  const Vec& weight(const std::string& name) {
    auto it = cache_.find(name);
    if (it != cache_.end()) return it->second;
    HostTensor t = w_.load(name);
    return cache_[name] = Vec(t.data.begin(), t.data.end());
  }

  // y = W x with W [rows, cols] row-major
  Vec matvec(const Vec& W, const Vec& x, int64_t rows) {
    const int64_t cols = static_cast<int64_t>(x.size());
    Vec y(rows, 0.0);
    for (int64_t r = 0; r < rows; ++r) {
      double s = 0;
      for (int64_t k = 0; k < cols; ++k) s += W[r * cols + k] * x[k];
      y[r] = s;
    }
    return y;
  }

  Vec rmsnorm(const Vec& x, const Vec& w) {
    double ss = 0;
    for (double v : x) ss += v * v;
    const double inv = 1.0 / std::sqrt(ss / x.size() + c_.rms_eps);
    Vec y(x.size());
    for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] * inv * w[i];
    return y;
  }

  // GGUF llama: pairs (2i, 2i+1) rotate by pos * theta^(-2i/d).
  void rope(Vec& x, int64_t n_heads, int64_t pos) {
    const int64_t d = c_.head_dim;
    for (int64_t h = 0; h < n_heads; ++h)
      for (int64_t i = 0; i < d / 2; ++i) {
        const double a = pos * std::pow(c_.rope_theta, -2.0 * i / d);
        double& x0 = x[h * d + 2 * i];
        double& x1 = x[h * d + 2 * i + 1];
        const double r0 = x0 * std::cos(a) - x1 * std::sin(a), r1 = x0 * std::sin(a) + x1 * std::cos(a);
        x0 = r0;
        x1 = r1;
      }
  }

  // Hidden states after n_layers blocks for every position; logits if n_layers == all.
  std::vector<Vec> run(const std::vector<int32_t>& ids, int64_t n_layers, bool logits) {
    const int64_t T = ids.size(), H = c_.hidden, d = c_.head_dim, Hq = c_.n_heads, Hkv = c_.n_kv_heads;
    const Vec& emb = weight("token_embd.weight");
    std::vector<Vec> x(T);
    for (int64_t t = 0; t < T; ++t) x[t] = Vec(emb.begin() + ids[t] * H, emb.begin() + (ids[t] + 1) * H);
    for (int64_t l = 0; l < n_layers; ++l) {
      const std::string p = "blk." + std::to_string(l) + ".";
      std::vector<Vec> K(T), V(T), Q(T);
      for (int64_t t = 0; t < T; ++t) {
        Vec h = rmsnorm(x[t], weight(p + "attn_norm.weight"));
        Q[t] = matvec(weight(p + "attn_q.weight"), h, Hq * d);
        K[t] = matvec(weight(p + "attn_k.weight"), h, Hkv * d);
        V[t] = matvec(weight(p + "attn_v.weight"), h, Hkv * d);
        rope(Q[t], Hq, t);
        rope(K[t], Hkv, t);
      }
      for (int64_t t = 0; t < T; ++t) {
        Vec o(Hq * d, 0.0);
        for (int64_t hq = 0; hq < Hq; ++hq) {
          const int64_t hk = hq / (Hq / Hkv);
          Vec s(t + 1);
          double mx = -1e300;
          for (int64_t j = 0; j <= t; ++j) {
            double dot = 0;
            for (int64_t i = 0; i < d; ++i) dot += Q[t][hq * d + i] * K[j][hk * d + i];
            s[j] = dot / std::sqrt(static_cast<double>(d));
            mx = std::max(mx, s[j]);
          }
          double z = 0;
          for (auto& v : s) z += (v = std::exp(v - mx));
          for (int64_t j = 0; j <= t; ++j)
            for (int64_t i = 0; i < d; ++i) o[hq * d + i] += s[j] / z * V[j][hk * d + i];
        }
        Vec a = matvec(weight(p + "attn_output.weight"), o, H);
        for (int64_t i = 0; i < H; ++i) x[t][i] += a[i];
        Vec h = rmsnorm(x[t], weight(p + "ffn_norm.weight"));
        Vec g = matvec(weight(p + "ffn_gate.weight"), h, c_.ffn_hidden);
        Vec u = matvec(weight(p + "ffn_up.weight"), h, c_.ffn_hidden);
        for (int64_t i = 0; i < c_.ffn_hidden; ++i) g[i] = g[i] / (1.0 + std::exp(-g[i])) * u[i];
        Vec dn = matvec(weight(p + "ffn_down.weight"), g, H);
        for (int64_t i = 0; i < H; ++i) x[t][i] += dn[i];
      }
    }
    if (!logits) return x;
    std::vector<Vec> out(T);
    const Vec& W = c_.tied_embeddings ? emb : weight("output.weight");
    for (int64_t t = 0; t < T; ++t) out[t] = matvec(W, rmsnorm(x[t], weight("output_norm.weight")), c_.vocab_size);
    return out;
  }

 private:
  ModelConfig c_;
  const WeightSource& w_;
  std::map<std::string, Vec> cache_;
};

struct DefaultModel {
  ModelBundle bundle;
  std::unique_ptr<LlamaDecoder> decoder;
};

DefaultModel* default_model() {
  static std::unique_ptr<DefaultModel> m = [] {
    std::unique_ptr<DefaultModel> p;
    try {
      p = std::make_unique<DefaultModel>();
      p->bundle = open_model("default");
      p->decoder = std::make_unique<LlamaDecoder>(*p->bundle.weights, at::Device(at::kCPU));
    } catch (const Error& e) {
      std::fprintf(stderr, "default model unavailable: %s\n", e.what());
      p.reset();
    }
    return p;
  }();
  return m.get();
}

#define REQUIRE_DEFAULT_MODEL()                                                       \
  DefaultModel* M = default_model();                                                  \
  if (!M) GTEST_SKIP() << "default model not installed (run scripts/bootstrap.sh)";

const std::vector<int32_t> kPromptIds = {504, 3575, 282, 4649, 314, 253, 1345, 30};

at::Tensor ids_tensor(const std::vector<int32_t>& ids) {
  return at::tensor(std::vector<int64_t>(ids.begin(), ids.end())).reshape({1, (int64_t)ids.size()});
}

double max_abs(const std::vector<Vec>& a) {
  double m = 0;
  for (auto& r : a)
    for (double v : r) m = std::max(m, std::abs(v));
  return m;
}

TEST(LlamaDecoder, HiddenStatesOfFirstLayersMatchFloat64Reference) {
  REQUIRE_DEFAULT_MODEL();
  Float64Llama ref(*M->bundle.weights);
  for (int64_t n_layers : {1, 3}) {
    auto want = ref.run(kPromptIds, n_layers, /*logits=*/false);
    DenseKvCache cache;
    cache.reset(M->decoder->config(), 1, kPromptIds.size(), at::Device(at::kCPU));
    auto got = M->decoder->hidden_after(ids_tensor(kPromptIds), n_layers, cache).to(at::kDouble);
    const double scale = max_abs(want);
    double err = 0;
    for (size_t t = 0; t < want.size(); ++t)
      for (size_t i = 0; i < want[t].size(); ++i) err = std::max(err, std::abs(got[0][t][i].item<double>() - want[t][i]));
    EXPECT_LT(err / scale, 1e-4) << "after " << n_layers << " layers, max |diff| " << err << " of scale " << scale;
  }
}

TEST(LlamaDecoder, LogitsOfAllThirtyLayersMatchFloat64Reference) {
  REQUIRE_DEFAULT_MODEL();
  Float64Llama ref(*M->bundle.weights);
  auto want = ref.run(kPromptIds, M->decoder->config().n_layers, /*logits=*/true);
  DenseKvCache cache;
  cache.reset(M->decoder->config(), 1, kPromptIds.size(), at::Device(at::kCPU));
  auto got = M->decoder->forward(ids_tensor(kPromptIds), 0, cache).to(at::kDouble)[0];
  const double scale = max_abs(want);
  for (size_t t = 0; t < want.size(); ++t) {
    auto w = at::tensor(want[t], at::kDouble);
    const double err = (got[t] - w).abs().max().item<double>();
    EXPECT_LT(err / scale, 1e-3) << "position " << t;
    EXPECT_EQ(got[t].argmax().item<int64_t>(), w.argmax().item<int64_t>()) << "position " << t;
  }
}

TEST(LlamaDecoder, IncrementalDecodeEqualsOneShotPrefill) {
  REQUIRE_DEFAULT_MODEL();
  const auto& c = M->decoder->config();
  DenseKvCache one, inc;
  one.reset(c, 1, kPromptIds.size(), at::Device(at::kCPU));
  inc.reset(c, 1, kPromptIds.size(), at::Device(at::kCPU));
  auto full = M->decoder->forward(ids_tensor(kPromptIds), 0, one)[0];
  const int64_t split = 5;
  std::vector<int32_t> head(kPromptIds.begin(), kPromptIds.begin() + split);
  M->decoder->forward(ids_tensor(head), 0, inc);
  for (size_t t = split; t < kPromptIds.size(); ++t) {
    auto step = M->decoder->forward(ids_tensor({kPromptIds[t]}), t, inc)[0][0];
    EXPECT_LT((step - full[t]).abs().max().item<double>(), 1e-3 * full[t].abs().max().item<double>()) << t;
  }
}

TEST(LlamaDecoder, GreedyGenerationIsDeterministicAndKnowsParis) {
  REQUIRE_DEFAULT_MODEL();
  const BpeTokenizer& tok = M->bundle.require_tokenizer();
  auto prompt = tok.encode(tok.apply_chat_template({{"user", "What is the capital of France?"}}, true));
  GenerationOptions opt;
  opt.max_new_tokens = 12;
  DenseKvCache cache;
  auto a = generate(*M->decoder, tok, cache, prompt, opt);
  auto b = generate(*M->decoder, tok, cache, prompt, opt);
  EXPECT_EQ(a.ids, b.ids);
  EXPECT_NE(a.text.find("Paris"), std::string::npos) << a.text;
  ASSERT_FALSE(a.steps.empty());
  EXPECT_EQ(a.steps[0].top.size(), 5u);
  EXPECT_EQ(a.steps[0].top[0].first, a.ids[0]);  // greedy picks the highest logit
}

TEST(LlamaDecoder, SeededSamplingIsReproducibleAndSeedsDiffer) {
  REQUIRE_DEFAULT_MODEL();
  const BpeTokenizer& tok = M->bundle.require_tokenizer();
  auto prompt = tok.encode("Once upon a time");
  GenerationOptions opt;
  opt.max_new_tokens = 16;
  opt.stop_at_eos = false;
  opt.sampling = {1.0, 0.95, 7};
  DenseKvCache cache;
  auto a = generate(*M->decoder, tok, cache, prompt, opt);
  auto b = generate(*M->decoder, tok, cache, prompt, opt);
  opt.sampling.seed = 8;
  auto c = generate(*M->decoder, tok, cache, prompt, opt);
  EXPECT_EQ(a.ids, b.ids);
  EXPECT_NE(a.ids, c.ids);
}

TEST(LlamaDecoder, PromptOverContextIsAClearError) {
  REQUIRE_DEFAULT_MODEL();
  const BpeTokenizer& tok = M->bundle.require_tokenizer();
  std::vector<int32_t> prompt(M->decoder->config().context_length + 1, 504);
  DenseKvCache cache;
  try {
    generate(*M->decoder, tok, cache, prompt, {});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("context"), std::string::npos) << e.what();
  }
}

TEST(LlamaDecoder, CancellationStopsDecoding) {
  REQUIRE_DEFAULT_MODEL();
  const BpeTokenizer& tok = M->bundle.require_tokenizer();
  std::atomic<bool> cancel{false};
  GenerationCallbacks cb;
  cb.cancel = &cancel;
  cb.on_token = [&](const GeneratedToken& t) {
    if (t.index == 2) cancel = true;
  };
  GenerationOptions opt;
  opt.max_new_tokens = 50;
  opt.stop_at_eos = false;
  DenseKvCache cache;
  auto r = generate(*M->decoder, tok, cache, tok.encode("Hello"), opt, cb);
  EXPECT_TRUE(r.cancelled);
  EXPECT_EQ(r.ids.size(), 3u);
}

}  // namespace
}  // namespace skv
