#pragma once
// Builds the attention backend a command asks for:
//   dense          the full-precision DenseKvCache
//   ada  + tier    TieredKvCache, every token (outside the fp16 hot window) in that one tier
//   rdr  + policy  TieredKvCache under a retention policy (rdr or any peer) and a byte budget
#include <memory>
#include <string>

#include "core/cache/tiered_kv_cache.h"
#include "core/decoder/attention_backend.h"
#include "core/policies/peer_policies.h"

namespace skv {

struct BackendSpec {
  std::string kv = "dense";    // dense | ada | rdr
  std::string tier = "k3v4";   // ada
  std::string policy = "rdr";  // rdr: any name of policy_names()
  std::string budget = "0.25"; // rdr: fraction, percentage or bytes (CacheBudget::parse)
  TieredCacheOptions cache;    // hot window, sinks, re-tiering period, scoring path ...
  PolicyOptions policy_options;
};

std::unique_ptr<AttentionBackend> make_backend(const BackendSpec& spec);
// The same for a TieredKvCache (kv = ada or rdr); throws for dense.
std::unique_ptr<TieredKvCache> make_tiered_cache(const BackendSpec& spec);

}  // namespace skv
