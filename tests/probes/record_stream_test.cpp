#include "probes/record_stream.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace skv::probes {
namespace {

CpuTimingRecord tagged(std::int64_t producer, std::uint64_t seq) {
  CpuTimingRecord r;
  r.step = producer;
  r.ns = seq;
  r.what.assign("t");
  return r;
}

TEST(RecordStream, CapacityRoundsUpToPowerOfTwo) {
  EXPECT_EQ(RecordStream(5).capacity(), 8u);
  EXPECT_EQ(RecordStream(0).capacity(), 2u);
  EXPECT_EQ(RecordStream(1024).capacity(), 1024u);
}

TEST(RecordStream, FullRingDropsAndCountsWithoutBlocking) {
  RecordStream s(8);
  for (std::uint64_t i = 0; i < 8; ++i) EXPECT_TRUE(s.try_push(tagged(0, i)));
  EXPECT_FALSE(s.try_push(tagged(0, 8)));
  EXPECT_FALSE(s.try_push(tagged(0, 9)));
  EXPECT_EQ(s.dropped(), 2u);
  EXPECT_EQ(s.pushed(), 8u);
  std::vector<Record> out;
  EXPECT_EQ(s.drain(out), 8u);
  for (std::uint64_t i = 0; i < 8; ++i) EXPECT_EQ(std::get<CpuTimingRecord>(out[i]).ns, i);
  // Space is free again after the drain; the dropped records stay dropped.
  EXPECT_TRUE(s.try_push(tagged(0, 10)));
  EXPECT_EQ(s.dropped(), 2u);
}

TEST(RecordStream, DrainRespectsMaxRecords) {
  RecordStream s(16);
  for (std::uint64_t i = 0; i < 10; ++i) s.try_push(tagged(0, i));
  std::vector<Record> out;
  EXPECT_EQ(s.drain(out, 4), 4u);
  EXPECT_EQ(s.size_approx(), 6u);
  EXPECT_EQ(s.drain(out), 6u);
  EXPECT_EQ(std::get<CpuTimingRecord>(out.back()).ns, 9u);
}

// Four producers race a consumer through a small ring: every record is either delivered or
// counted as dropped, and each producer's delivered records keep that producer's order.
TEST(RecordStream, ConcurrentProducersKeepPerProducerOrderAndAccountForEveryRecord) {
  constexpr int kProducers = 4;
  constexpr std::uint64_t kPerProducer = 50000;
  RecordStream s(256);
  std::atomic<int> done{0};
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&s, &done, p] {
      for (std::uint64_t i = 0; i < kPerProducer; ++i) s.try_push(tagged(p, i));
      done.fetch_add(1);
    });
  }
  std::vector<std::int64_t> last(kProducers, -1);
  std::uint64_t received = 0;
  bool ordered = true;
  Record r;
  for (;;) {
    const bool all_done = done.load() == kProducers;
    while (s.try_pop(r)) {
      const auto& c = std::get<CpuTimingRecord>(r);
      const auto seq = static_cast<std::int64_t>(c.ns);
      if (seq <= last[static_cast<std::size_t>(c.step)]) ordered = false;
      last[static_cast<std::size_t>(c.step)] = seq;
      ++received;
    }
    if (all_done) break;
  }
  for (auto& t : producers) t.join();
  while (s.try_pop(r)) ++received;
  EXPECT_TRUE(ordered);
  EXPECT_EQ(received + s.dropped(), kProducers * kPerProducer);
  EXPECT_EQ(s.pushed(), received);
}

}  // namespace
}  // namespace skv::probes
