// Host entry points of the CUDA kernels. Pointers are device pointers; streams are passed as
// void* (a cudaStream_t) so code without CUDA headers compiles. Built without CUDA, every entry
// point throws KernelError("built without CUDA") and cuda_device_available() returns false.
//
// CUDA limits (the CPU reference in kernels/cpu is wider): head_dim 64 or 128; coded keys need a
// shared-memory lookup table: COORD b <= 4, PAIR a + p <= 6; values COORD bv <= 5 or FP16;
// page_tokens a multiple of 32 and <= 128; at most kMaxTiers tiers.
#pragma once
#include <cstddef>
#include <cstdint>

#include "kernels/page_table.h"

namespace skv::kernels {

// True when the CUDA runtime sees at least one device (false when built without CUDA).
bool cuda_device_available();

// Which ADA decode kernel runs (docs/KERNELS.md): auto picks v7 (both products on the tensor
// cores) when every tier is 3-bit COORD keys + 4-bit COORD values in 64-token pages, else the
// warp-per-page kernel (v5) when its shared memory fits the tier table, else the split kernel
// (v4); short contexts at batch 1 run v4. Forcing one is for benchmarks
// and tests; forcing v5 (or v6) where it does not fit is an error. v6 is v5 with 3-bit COORD key
// tiers scored on the integer tensor cores from their code bits (kernels/ada_bitplane.h).
inline constexpr int kAdaKernelAuto = 0;
inline constexpr int kAdaKernelSplit = 1;
inline constexpr int kAdaKernelWarpPerPage = 2;
inline constexpr int kAdaKernelTensorCore = 3;
// v7: keys as v6 and the values on the fp16 tensor cores (value levels rounded to fp16), for
// tables whose every tier is 3-bit COORD keys + 4-bit COORD values in 64-token pages; auto runs
// it there.
inline constexpr int kAdaKernelMmaValues = 4;

struct DecodeArgs {
  const float* q = nullptr;        // [batch, num_q_heads, head_dim] device
  float* out = nullptr;            // [batch, num_q_heads, head_dim] device
  int num_q_heads = 0;             // multiple of kv.num_kv_heads
  float sm_scale = 0.f;            // 0 = 1/sqrt(head_dim)
  int max_pages_per_head = 0;      // upper bound on any (sequence, kv head) page count (plan)
  void* workspace = nullptr;       // device, ada_decode_workspace_bytes() bytes, 16-byte aligned
  size_t workspace_bytes = 0;
  void* stream = nullptr;          // cudaStream_t
  int variant = kAdaKernelAuto;    // ADA kernel choice (ignored by the dense baseline)
};

// Bytes of device workspace the split-over-pages decode needs for these shapes.
size_t ada_decode_workspace_bytes(const PagedKv& kv, int num_q_heads, int max_pages_per_head);

// ADA paged decode attention: LUT-scored coded keys, coded or fp16 values, any mix of tiers in a
// page list (FP16-key tiers are scored densely). Flash-decoding split over pages + one merge.
void ada_decode_attention(const PagedKv& kv, const DecodeArgs& args);

// Dense fp16 paged decode attention (the baseline): every tier must be FP16 keys + FP16 values.
void dense_fp16_decode_attention(const PagedKv& kv, const DecodeArgs& args);

// One encode job: `count` consecutive rows of keys/values (from row `src_row`) of kv head
// `kv_head` go into slots first_slot .. first_slot+count-1 of the page at `page_offset` (tier
// `tier`). compute_mean != 0: the rows are the whole page (first_slot must be 0) and the page
// mean is computed from them and stored; otherwise the mean already in the page is used.
struct EncodeJob {
  uint64_t page_offset = 0;
  int32_t src_row = 0;
  int32_t count = 0;
  int32_t first_slot = 0;
  int32_t kv_head = 0;
  uint32_t tier = 0;
  uint32_t compute_mean = 1;
};
static_assert(sizeof(EncodeJob) == 32);

// Encode rows of float32 keys/values [n, head_dim] into pages of the arena. jobs is a device
// array. signs [num_kv_heads][head_dim] device. Tier codebooks must be device pointers.
void ada_encode(const TierTable& tiers, const int8_t* signs, int head_dim, const float* keys,
                const float* values, const EncodeJob* jobs, int num_jobs, uint8_t* arena, void* stream);

}  // namespace skv::kernels
