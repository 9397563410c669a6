// Modeled attention traffic, checked against byte counts done by hand on small layouts.
#include <gtest/gtest.h>

#include <variant>
#include <vector>

#include "core/common/error.h"
#include "core/probing/attention_traffic_model.h"
#include "probes/probe.h"

namespace skv::probing {
namespace {

using kernels::KeyKind;
using kernels::PageInfo;
using kernels::PagedKv;
using kernels::TierLayout;
using kernels::ValueKind;

// d = 64, 3-bit COORD keys (64 * 3 / 32 = 6 words = 24 B a token), 4-bit COORD values (8 words
// = 32 B a token), page mean, P = 32. Arrays: key codes 0..768, key scales 768..832, values
// 832..1856, value scales 1856..1920, mean 1920..2048.
TierLayout coded_tier() {
  TierLayout L;
  L.head_dim = 64;
  L.key_kind = KeyKind::kCoord;
  L.key_bits = 3;
  L.value_kind = ValueKind::kCoord;
  L.value_bits = 4;
  L.page_mean = true;
  L.page_tokens = 32;
  return L;
}

TierLayout fp16_tier() {  // keys 0..4096, values 4096..8192
  TierLayout L;
  L.head_dim = 64;
  L.key_kind = KeyKind::kFp16;
  L.value_kind = ValueKind::kFp16;
  L.page_tokens = 32;
  return L;
}

struct Table {
  std::vector<PageInfo> pages;
  std::vector<int32_t> indptr, indices;
  PagedKv kv;
  Table(std::vector<PageInfo> p, std::vector<int32_t> ptr, std::vector<int32_t> idx, TierLayout tier, int batch,
        int hkv)
      : pages(std::move(p)), indptr(std::move(ptr)), indices(std::move(idx)) {
    kv.pages = pages.data();
    kv.indptr = indptr.data();
    kv.indices = indices.data();
    kv.batch = batch;
    kv.num_kv_heads = hkv;
    kv.head_dim = tier.head_dim;
    kv.tiers.count = 1;
    kv.tiers.layouts[0] = tier;
  }
};

TEST(TrafficModel, SectorBytesCountsEveryTouched32ByteSector) {
  EXPECT_EQ(sector_bytes(0, 0), 0u);
  EXPECT_EQ(sector_bytes(0, 1), 32u);
  EXPECT_EQ(sector_bytes(0, 32), 32u);
  EXPECT_EQ(sector_bytes(16, 32), 64u);  // straddles two sectors
  EXPECT_EQ(sector_bytes(16, 120), 160u);  // bytes 16..135: sectors 0..4
}

TEST(TrafficModel, CodedLayoutOffsetsAreTheHandCountedOnes) {
  const auto o = kernels::page_offsets(coded_tier());
  EXPECT_EQ(o.key_scales, 768u);
  EXPECT_EQ(o.values, 832u);
  EXPECT_EQ(o.value_scales, 1856u);
  EXPECT_EQ(o.mean, 1920u);
  EXPECT_EQ(o.total, 2048u);
}

TEST(TrafficModel, CodedPagesCountValidRowsInSectorsAndTheRestAsUnused) {
  // kv head 0: one page at 0 with 5 tokens; kv head 1: one full page at 2064 (16- but not
  // 32-byte aligned, so arrays share boundary sectors).
  Table t({{0, 0, 5}, {2064, 0, 32}}, {0, 1, 2}, {0, 1}, coded_tier(), 1, 2);
  PagedTrafficOptions opt;
  opt.splits = 3;
  const AttentionTraffic a = model_paged_attention_traffic(t.kv, /*num_q_heads=*/4, opt);
  // Page 0: codes 5*24 = 120 B -> 128; scales 10 B -> 32; values 5*32 = 160 B at 832 -> 160;
  // value scales 10 B -> 32; mean 128 B -> 128. Valid 480 of the 2048 the kernel copies.
  // Page 1 (bytes 2064..4112): codes 2064..2832 -> sectors 64..88 = 800; scales 2832..2896, sector
  // 88 already charged -> 2848..2912 = 64; values 2896..3920 -> 2912..3936 = 1024; value scales
  // 3920..3984 -> 3936..4000 = 64; mean 3984..4112 -> 4000..4128 = 128. 2080 = the whole page.
  EXPECT_EQ(a.key_codes, 128u + 800u);
  EXPECT_EQ(a.key_scales, 32u + 64u);
  EXPECT_EQ(a.values, 160u + 1024u);
  EXPECT_EQ(a.value_scales, 32u + 64u);
  EXPECT_EQ(a.page_mean, 128u + 128u);
  EXPECT_EQ(a.page_unused, 2048u - 480u + 0u);
  EXPECT_EQ(a.page_read_bytes(), 2048u + 2080u);
  EXPECT_EQ(a.page_table, 3u * 4u + 2u * (4u + 16u));  // indptr + (index + PageInfo) per page
  EXPECT_EQ(a.query, 1u * 4u * 64u * 4u);               // float32 q
  EXPECT_EQ(a.output, 1u * 4u * 64u * 4u);
  EXPECT_EQ(a.signs, 2u * 64u);
  EXPECT_EQ(a.codebooks, (8u + 16u) * 4u);              // 2^3 key levels + 2^4 value levels
  EXPECT_EQ(a.workspace, 3u * 4u * (2u + 64u) * 4u);    // splits * rows * (m, l, rotated acc)
  EXPECT_EQ(a.read_bytes(), 5428u);
  EXPECT_EQ(a.written_bytes(), 1024u);
  EXPECT_EQ(a.pages, 2u);
  EXPECT_EQ(a.tokens, 37u);
}

TEST(TrafficModel, HotWindowAddsFp16KeyAndValueRowsOfEveryKvHead) {
  // The pages of the test above plus an fp16 hot window of 4 sinks + 3 newest tokens per kv head:
  // K block 7 * 64 * 2 = 896 B (28 whole sectors), V the same, 2 kv heads: 3584 B more.
  Table t({{0, 0, 5}, {2064, 0, 32}}, {0, 1, 2}, {0, 1}, coded_tier(), 1, 2);
  PagedTrafficOptions opt;
  opt.splits = 3;
  opt.hot_tokens = 7;
  const AttentionTraffic a = model_paged_attention_traffic(t.kv, 4, opt);
  EXPECT_EQ(a.hot_window, 2u * 2u * 896u);
  EXPECT_EQ(a.hot_tokens, 14u);
  EXPECT_EQ(a.read_bytes(), 5428u + 3584u);
  EXPECT_EQ(a.page_read_bytes(), 2048u + 2080u);  // the pages are unchanged
  EXPECT_EQ(a.written_bytes(), 1024u);
}

TEST(TrafficModel, HotWindowBlocksAreRoundedToSectorsAndNeedNoPages) {
  // d = 8: a token row is 16 B, 3 tokens are 48 B -> 64 B of sectors for K and for V. No pages
  // yet (the first decode step before any re-tiering): only the hot window, table and query.
  TierLayout L = fp16_tier();
  L.head_dim = 8;
  Table t({{0, 0, 1}}, {0, 0}, {0}, L, 1, 1);
  PagedTrafficOptions opt;
  opt.coded_kernel = false;
  opt.hot_tokens = 3;
  const AttentionTraffic a = model_paged_attention_traffic(t.kv, 1, opt);
  EXPECT_EQ(a.hot_window, 2u * 64u);
  EXPECT_EQ(a.page_read_bytes(), 0u);
  EXPECT_EQ(a.read_bytes(), 128u + 2u * 4u + 8u * 4u);  // hot + indptr + float32 query
  opt.hot_tokens = -1;
  EXPECT_THROW(model_paged_attention_traffic(t.kv, 1, opt), Error);
}

TEST(TrafficModel, Fp16PagesForTheDenseKernelHaveNoSignsOrCodebooks) {
  Table t({{0, 0, 3}}, {0, 1}, {0}, fp16_tier(), 1, 1);
  PagedTrafficOptions opt;
  opt.coded_kernel = false;
  const AttentionTraffic a = model_paged_attention_traffic(t.kv, 2, opt);
  EXPECT_EQ(a.key_codes, 3u * 64u * 2u);
  EXPECT_EQ(a.values, 3u * 64u * 2u);
  EXPECT_EQ(a.key_scales + a.value_scales + a.page_mean, 0u);
  EXPECT_EQ(a.page_unused, 8192u - 768u);
  EXPECT_EQ(a.signs + a.codebooks, 0u);
  EXPECT_EQ(a.read_bytes(), 8192u + 2u * 4u + 20u + 2u * 64u * 4u);
}

TEST(TrafficModel, DenseFp16AttentionReadsKeysAndValuesOnce) {
  const AttentionTraffic a = model_dense_attention_traffic(1, 8, 2, 128, 1000);
  EXPECT_EQ(a.key_codes, 2u * 1000u * 128u * 2u);
  EXPECT_EQ(a.values, 2u * 1000u * 128u * 2u);
  EXPECT_EQ(a.query, 8u * 128u * 2u);
  EXPECT_EQ(a.read_bytes(), 1024000u + 2048u);
  EXPECT_EQ(a.written_bytes(), 2048u);
}

TEST(TrafficModel, InconsistentTablesAreRejected) {
  Table bad_tier({{0, 3, 5}}, {0, 1}, {0}, coded_tier(), 1, 1);
  EXPECT_THROW(model_paged_attention_traffic(bad_tier.kv, 1), Error);
  Table empty_page({{0, 0, 0}}, {0, 1}, {0}, coded_tier(), 1, 1);
  EXPECT_THROW(model_paged_attention_traffic(empty_page.kv, 1), Error);
  Table ok({{0, 0, 5}}, {0, 1}, {0}, coded_tier(), 1, 1);
  EXPECT_THROW(model_paged_attention_traffic(ok.kv, 0), Error);  // no query heads
}

TEST(TrafficModel, RecordPushesModeledReadAndWriteRecordsOnlyWhenTheProbeIsOn) {
  probes::Probe probe;
  AttentionTraffic a = model_dense_attention_traffic(1, 2, 1, 64, 10);
  record_attention_traffic(probe, 3, 5, "dense", a);  // off: nothing
  probe.start(probes::Level::cpu);
  record_attention_traffic(probe, 3, 5, "dense", a);
  probe.stop();
  std::vector<probes::Record> out;
  probe.drain(out);
  std::vector<probes::ModeledBytesRecord> modeled;
  for (const auto& r : out)
    if (const auto* m = std::get_if<probes::ModeledBytesRecord>(&r)) modeled.push_back(*m);
  ASSERT_EQ(modeled.size(), 2u);
  EXPECT_EQ(modeled[0].kernel.view(), "dense:read");
  EXPECT_EQ(modeled[0].modeled_bytes.value, a.read_bytes());
  EXPECT_EQ(modeled[1].kernel.view(), "dense:write");
  EXPECT_EQ(modeled[1].modeled_bytes.value, a.written_bytes());
  EXPECT_EQ(modeled[0].step, 3);
  EXPECT_EQ(modeled[0].layer, 5);
  EXPECT_EQ(probes::ModeledBytesRecord::provenance, probes::Provenance::modeled);
}

}  // namespace
}  // namespace skv::probing
