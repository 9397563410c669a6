#include "core/cache/backend_factory.h"

#include "core/common/error.h"
#include "core/decoder/dense_kv_cache.h"

namespace skv {

std::unique_ptr<TieredKvCache> make_tiered_cache(const BackendSpec& spec) {
  TieredCacheOptions opt = spec.cache;
  PolicyOptions po = spec.policy_options;
  if (spec.kv == "ada") {
    po.tier = spec.tier;
    opt.budget = {};  // one tier for every token: no budget to meet
    return std::make_unique<TieredKvCache>(opt, make_policy("ada", po));
  }
  if (spec.kv != "rdr") throw Error("--kv '" + spec.kv + "' is not a tiered cache (use ada or rdr)");
  const CacheBudget budget = CacheBudget::parse(spec.budget);
  if (spec.policy == "full") {
    opt.budget = {};
  } else if (spec.policy == "quest" || spec.policy == "quest-c") {
    // Quest keeps every page resident; its budget is what each query reads.
    if (budget.fraction <= 0) throw Error("policy quest takes its budget as a fraction of the cache (e.g. 0.25)");
    po.read_fraction = budget.fraction;
    opt.budget = {};
  } else {
    opt.budget = budget;
  }
  return std::make_unique<TieredKvCache>(opt, make_policy(spec.policy, po));
}

std::unique_ptr<AttentionBackend> make_backend(const BackendSpec& spec) {
  if (spec.kv == "dense") return std::make_unique<DenseKvCache>();
  if (spec.kv == "ada" || spec.kv == "rdr") return make_tiered_cache(spec);
  throw Error("--kv '" + spec.kv + "' is unknown (use dense, ada or rdr)");
}

}  // namespace skv
