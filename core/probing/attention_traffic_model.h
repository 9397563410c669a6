#pragma once
// Modeled memory traffic of one decode-attention launch (SPHERICAL_KV.md section 3, "Traffic:
// bytes the attention must read per step (modeled from the page layout) and bytes actually read
// from DRAM (CUPTI), side by side; their ratio validates both").
//
// Plain C++ (no torch, no CUDA): the RDR cache, the GUI, the decode probe and the GPU validation
// program (probes/validate/, compiled by nvcc) all call it.
//
// What is counted, as kernels/cuda/ada_decode.cu reads it:
//   * pages: each page is one contiguous, 16-byte aligned blob that the kernel copies *whole*
//     with 16-byte cp.async (cp.async.cg: L2 only), empty token slots and alignment padding
//     included. DRAM moves 32-byte sectors, so a page costs every 32-byte sector its byte range
//     [arena + byte_offset, + page_bytes) touches (the arena base is assumed 256-byte aligned, as
//     cudaMalloc returns). The breakdown splits those sectors into the arrays of the *valid*
//     rows (key codes / fp16 keys, key scales, values, value scales, page mean; a sector shared by
//     two arrays is charged to the first) and `page_unused` (sectors holding only empty slots or
//     padding: what a rows-only kernel would not read).
//   * page table: indptr (batch * Hkv + 1 int32), one int32 index and one 16-byte PageInfo per
//     page, exact bytes (contiguous arrays; gathered PageInfo could cost up to a sector each).
//   * query [B, Hq, d] float32, Hadamard signs [Hkv][d] int8 (ADA only), codebooks of every tier
//     in the table (float32 levels), output [B, Hq, d] float32 written.
//   * hot window (PagedTrafficOptions::hot_tokens): the fp16 keys and values of the tokens the RDR
//     cache keeps exact beside the pages (the attention sinks and the newest tokens, the query's
//     own token included), as contiguous [hot_tokens, d] fp16 rows per (sequence, kv head) for K
//     and for V, each block starting on a sector: 2 * sector_bytes(hot_tokens * d * 2) per list.
//   * selection (query-aware policies, e.g. Quest page Top-K): what the policy reads to choose its
//     pages for the query (per-page key bounds, and with completion the skipped pages'
//     feature-map summaries), exact bytes as the cache reports them; the pages themselves are
//     then only the selected ones (TieredKvCache::read_view).
//   * workspace: the split partials (m, l and one or two [d] float32 vectors per split and query
//     row) written by the split kernel and read back by the merge. Kept apart from the totals:
//     it is small and normally stays in L2.
// Each query row is read once and each page once from DRAM: repeated reads of the same bytes by
// other CTAs (query per split, codebooks per CTA) are L2 hits, not DRAM traffic.
#include <cstdint>
#include <string>
#include <string_view>

#include "kernels/page_table.h"

namespace skv::probes {
class Probe;
}

namespace skv::probing {

inline constexpr std::uint64_t kDramSectorBytes = 32;  // DRAM / L2 sector on Ampere and Hopper

// Bytes of every `sector`-byte sector that the byte range [begin, begin + bytes) touches.
std::uint64_t sector_bytes(std::uint64_t begin, std::uint64_t bytes, std::uint64_t sector = kDramSectorBytes);

struct AttentionTraffic {
  // Read, page data (sector-rounded, see the file comment).
  std::uint64_t key_codes = 0;     // coded key words, or fp16 keys for FP16-key tiers
  std::uint64_t key_scales = 0;
  std::uint64_t values = 0;        // coded value words or fp16 values
  std::uint64_t value_scales = 0;
  std::uint64_t page_mean = 0;
  std::uint64_t page_unused = 0;   // copied by the kernel, not needed by the valid rows
  // Read, the fp16 hot window (sinks + newest tokens) beside the pages (sector-rounded per block).
  std::uint64_t hot_window = 0;
  // Read, everything else (exact bytes).
  std::uint64_t page_table = 0;    // indptr + indices + PageInfo
  std::uint64_t query = 0;
  std::uint64_t signs = 0;
  std::uint64_t codebooks = 0;
  std::uint64_t selection = 0;     // query-aware page selection: page bounds, skipped pages' summaries
  // Written.
  std::uint64_t output = 0;
  // Written then read back (merge); not in read_bytes()/written_bytes().
  std::uint64_t workspace = 0;
  // Sizes, for display.
  std::uint64_t pages = 0;
  std::uint64_t tokens = 0;        // tokens in pages
  std::uint64_t hot_tokens = 0;    // tokens in the hot window, summed over (sequence, kv head)

  std::uint64_t page_valid_bytes() const { return key_codes + key_scales + values + value_scales + page_mean; }
  std::uint64_t page_read_bytes() const { return page_valid_bytes() + page_unused; }
  std::uint64_t read_bytes() const {
    return page_read_bytes() + hot_window + page_table + query + signs + codebooks + selection;
  }
  std::uint64_t written_bytes() const { return output; }
  AttentionTraffic& operator+=(const AttentionTraffic& o);
  std::string to_json() const;
};

struct PagedTrafficOptions {
  bool coded_kernel = true;        // ADA kernel (reads signs + codebooks); false: dense fp16 kernel
  int query_bytes_per_element = 4; // the CUDA entry points take float32 q and write float32 out
  int splits = 0;                  // split count of the launch, for `workspace` (0: not counted)
  // fp16 hot-window tokens each (sequence, kv head) list attends beside its pages (TieredKvCache:
  // sinks + newest, the query's own token included); 0 for the paged kernels alone.
  std::int64_t hot_tokens = 0;
  int hot_bytes_per_element = 2;
};

// Traffic of one decode launch (one query token per sequence) over `kv`. Needs host-readable
// indptr / indices / pages (the RDR cache's paged_view(), or a host mirror of a device table).
// Throws skv::Error when the table is inconsistent (index out of range, tier id unknown, tokens
// above page_tokens).
AttentionTraffic model_paged_attention_traffic(const kernels::PagedKv& kv, int num_q_heads,
                                               const PagedTrafficOptions& options = {});

// Dense attention over contiguous K and V [B, Hkv, context, d] (torch SDPA / FlashAttention
// baseline): K and V read once, query read, output written. Elements fp16 by default.
AttentionTraffic model_dense_attention_traffic(int batch, int num_q_heads, int num_kv_heads, int head_dim,
                                               std::int64_t context, int kv_bytes_per_element = 2,
                                               int query_bytes_per_element = 2);

// Pushes the model into a probe as two ModeledBytesRecords (Provenance modeled):
// "<kernel>:read" (read_bytes(), the number to set beside dram__bytes_read.sum) and
// "<kernel>:write" (written_bytes()). No-op when the probe is off.
void record_attention_traffic(probes::Probe& probe, std::int64_t step, std::int32_t layer, std::string_view kernel,
                              const AttentionTraffic& traffic);

}  // namespace skv::probing
