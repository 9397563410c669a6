// CPU check of the decode split plan (kernels/decode_plan.h): the H100 shapes of the benchmark get
// the splits they were measured with, every plan covers its page list without an empty split or a
// CTA over its shared-memory page table, the warp-per-page plans keep whole multiples of their 16
// warps and never add a second wave of CTAs for short lists, and the workspace size is the
// partials' size. (No GPU: the plan is host code; the kernels that run it are tested on the GPU.)
#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>

#include "kernels/decode_plan.h"
#include "kernels/kernel_error.h"

namespace skv::kernels {
namespace {

PagedKv shape(int batch, int hkv, int d) {
  PagedKv kv;
  kv.batch = batch;
  kv.num_kv_heads = hkv;
  kv.head_dim = d;
  return kv;
}

struct Expect { int ctx, hq, hkv, d, batch; bool wpp; int splits, pps; };

TEST(DecodePlan, BenchmarkShapesOnTheH100GetTheMeasuredSplits) {
  constexpr int kSms = 132;
  const Expect cases[] = {
      {65536, 32, 8, 128, 1, true, 16, 64},  // the target row: 128 CTAs of 64 pages (4 a warp)
      {4096, 32, 8, 128, 1, true, 16, 4},    // short list: 128 CTAs of 4 pages, not 32 of 16
      {4096, 32, 32, 128, 1, true, 4, 16},   // 32 heads: 128 CTAs already
      {4096, 9, 3, 64, 1, true, 32, 2},      // 96 CTAs of 2 pages
      {16384, 9, 3, 64, 1, true, 16, 16},    // longer list: a page a warp at least (48 CTAs)
      {4096, 32, 32, 128, 8, true, 1, 64},   // 256 heads x batch: one split each
      {65536, 32, 8, 128, 1, false, 32, 32}, // the split kernel: ~2 CTAs an SM
  };
  for (const Expect& e : cases) {
    SCOPED_TRACE(std::to_string(e.ctx) + " " + std::to_string(e.hq) + "/" + std::to_string(e.hkv) + " B" +
                 std::to_string(e.batch) + (e.wpp ? " wpp" : " split"));
    const DecodePlan p = decode_plan(shape(e.batch, e.hkv, e.d), e.hq, e.ctx / 64, e.wpp, kSms);
    EXPECT_EQ(p.splits, e.splits);
    EXPECT_EQ(p.pages_per_split, e.pps);
    EXPECT_EQ(p.rows, size_t(e.batch) * size_t(e.hq));
  }
}

TEST(DecodePlan, PlansCoverTheirListsWithinTheLimitsForEveryShape) {
  const int heads[][2] = {{32, 8}, {32, 32}, {9, 3}, {8, 8}, {16, 8}, {64, 8}, {12, 4}};
  int checked = 0;
  for (int sms : {1, 7, 108, 132})
    for (int batch : {1, 2, 8})
      for (const auto& h : heads)
        for (int d : {64, 128})
          for (int mp : {1, 2, 15, 16, 17, 31, 63, 64, 65, 127, 128, 129, 256, 1000, 1024, 2048, 5000})
            for (bool wpp : {false, true}) {
              SCOPED_TRACE("sms " + std::to_string(sms) + " B" + std::to_string(batch) + " " + std::to_string(h[0]) +
                           "/" + std::to_string(h[1]) + " d" + std::to_string(d) + " pages " + std::to_string(mp) +
                           (wpp ? " wpp" : " split"));
              const PagedKv kv = shape(batch, h[1], d);
              const DecodePlan p = decode_plan(kv, h[0], mp, wpp, sms);
              const int group = h[0] / h[1];
              ASSERT_EQ(p.nh, group == 1 ? 1 : group == 2 ? 2 : 4);
              ASSERT_GE(p.nh * p.chunks, group);
              ASSERT_LT(p.nh * (p.chunks - 1), group);
              ASSERT_GE(p.pages_per_split, 1);
              ASSERT_LE(p.pages_per_split, kMaxPagesPerSplit);
              ASSERT_GE(size_t(p.splits) * size_t(p.pages_per_split), size_t(mp));      // covers the list
              ASSERT_LT(size_t(p.splits - 1) * size_t(p.pages_per_split), size_t(mp));  // no empty split
              const int units = batch * h[1] * p.chunks;
              if (wpp) {
                ASSERT_TRUE(p.pages_per_split <= kWarpPerPageWarps || p.pages_per_split % kWarpPerPageWarps == 0);
                // short lists spread, but never past one CTA an SM unless a page a warp already does
                const int page_a_warp = (mp + kWarpPerPageWarps - 1) / kWarpPerPageWarps;
                ASSERT_LE(long(units) * p.splits, std::max(long(sms), long(units) * page_a_warp));
              }
              const size_t n = size_t(p.splits) * p.rows, n4 = (n + 3) / 4 * 4;
              ASSERT_EQ(p.bytes, (2 * n4 + 2 * n * size_t(d)) * sizeof(float));
              ++checked;
            }
  EXPECT_EQ(checked, 4 * 3 * 7 * 2 * 17 * 2);
}

TEST(DecodePlan, BadShapesAreErrors) {
  EXPECT_THROW(decode_plan(shape(1, 3, 64), 8, 10, true, 132), KernelError);   // 8 query heads over 3 kv heads
  EXPECT_THROW(decode_plan(shape(1, 8, 96), 32, 10, true, 132), KernelError);  // head_dim 96
  EXPECT_THROW(decode_plan(shape(1, 0, 64), 8, 10, false, 132), KernelError);
}

}  // namespace
}  // namespace skv::kernels
