#include <gtest/gtest.h>

#include <string>
#include <type_traits>

#include "probes/probe.h"
#include "probes/probe_error.h"
#include "probes/probe_records.h"
#include "probes/probe_worker.h"

namespace skv::probes {
namespace {

// A modeled number cannot become a measured one (or back) without saying so explicitly.
static_assert(!std::is_convertible_v<ModeledBytes, MeasuredBytes>);
static_assert(!std::is_convertible_v<MeasuredBytes, ModeledBytes>);
static_assert(!std::is_convertible_v<std::uint64_t, MeasuredBytes>);
static_assert(std::is_same_v<decltype(CounterRecord{}.dram_bytes_read), MeasuredBytes>);
static_assert(std::is_same_v<decltype(ModeledBytesRecord{}.modeled_bytes), ModeledBytes>);

TEST(Provenance, EachRecordTypeCarriesItsSource) {
  Provenance p{};
  ASSERT_TRUE(record_provenance(Record{KernelRecord{}}, &p));
  EXPECT_EQ(p, Provenance::measured_cupti);
  ASSERT_TRUE(record_provenance(Record{CounterRecord{}}, &p));
  EXPECT_EQ(p, Provenance::measured_cupti);
  ASSERT_TRUE(record_provenance(Record{SampleRecord{}}, &p));
  EXPECT_EQ(p, Provenance::measured_cupti);
  ASSERT_TRUE(record_provenance(Record{ModeledBytesRecord{}}, &p));
  EXPECT_EQ(p, Provenance::modeled);
  ASSERT_TRUE(record_provenance(Record{CpuTimingRecord{}}, &p));
  EXPECT_EQ(p, Provenance::cpu_timer);
  EXPECT_FALSE(record_provenance(Record{StatusRecord{}}, &p));
  EXPECT_STREQ(provenance_label(Provenance::modeled), "modeled");
  EXPECT_STREQ(provenance_label(Provenance::measured_cupti), "measured (CUPTI)");
  EXPECT_STREQ(provenance_label(Provenance::cpu_timer), "CPU timer");
  EXPECT_STREQ(ModeledBytesRecord::label, "modeled");
}

TEST(Provenance, CpuLevelEmitsCpuTimingsAndModeledBytesButNothingMeasured) {
  Probe probe;
  ASSERT_EQ(probe.start(Level::cpu), Level::cpu);
  probe.begin_step(7);
  probe.push_range("attn L3", kNoStep, 3);
  probe.record_modeled_bytes(7, 3, "ada_decode", 123456);
  probe.pop_range();
  probe.end_step();
  probe.stop();
  ProbeWorker worker(probe);
  worker.poll();
  auto snap = worker.snapshot();
  EXPECT_TRUE(snap->kernels.empty());
  EXPECT_TRUE(snap->counters.empty());
  EXPECT_TRUE(snap->samples.empty());
  ASSERT_EQ(snap->modeled.size(), 1u);
  EXPECT_EQ(snap->modeled[0].modeled_bytes.value, 123456u);
  EXPECT_EQ(snap->modeled[0].layer, 3);
  ASSERT_EQ(snap->cpu.size(), 2u);
  // Inner range closes first; its name carries the parent and it inherits the step.
  EXPECT_EQ(snap->cpu[0].what.str(), "step 7/attn L3");
  EXPECT_EQ(snap->cpu[0].step, 7);
  EXPECT_EQ(snap->cpu[1].what.str(), "step 7");
}

// A session recorder must get every record, even those the capped live histories trim.
TEST(ProbeWorkerSink, SeesEveryDrainedRecordWhileHistoriesStayCapped) {
  Probe probe;
  ASSERT_EQ(probe.start(Level::cpu), Level::cpu);
  for (int s = 0; s < 10; ++s) probe.record_modeled_bytes(s, 0, "k", 1000u + static_cast<std::uint64_t>(s));
  ProbeWorker worker(probe, 3);  // histories keep 3 records per kind
  std::vector<std::uint64_t> seen;
  worker.set_sink([&](const std::vector<Record>& batch) {
    for (const Record& r : batch)
      if (const auto* m = std::get_if<ModeledBytesRecord>(&r)) seen.push_back(m->modeled_bytes.value);
  });
  worker.poll();
  probe.record_modeled_bytes(10, 0, "k", 1010u);
  worker.poll();
  probe.stop();
  ASSERT_EQ(seen.size(), 11u);
  for (std::size_t i = 0; i < seen.size(); ++i) EXPECT_EQ(seen[i], 1000u + i);
  EXPECT_EQ(worker.snapshot()->modeled.size(), 3u);
  worker.set_sink({});  // removing the sink stops the copies
  probe.start(Level::cpu);
  probe.record_modeled_bytes(11, 0, "k", 1011u);
  worker.poll();
  probe.stop();
  EXPECT_EQ(seen.size(), 11u);
}

TEST(Provenance, OffRecordsNothingButStatus) {
  Probe probe;
  probe.begin_step(1);
  probe.record_modeled_bytes(1, 0, "k", 10);
  probe.record_cpu_timing(1, "x", 5);
  probe.end_step();
  probe.report(StatusLevel::info, "hello");
  std::vector<Record> out;
  probe.drain(out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<StatusRecord>(out[0]));
}

TEST(Provenance, LongNamesAreTruncatedNotOverflowed) {
  CpuTimingRecord r;
  r.what.assign(std::string(500, 'a'));
  EXPECT_EQ(r.what.view().size(), sizeof(r.what.text) - 1);
}

TEST(ProbeLevels, ParseAndNameRoundTrip) {
  for (Level l : {Level::off, Level::cpu, Level::timeline, Level::counters}) EXPECT_EQ(parse_level(level_name(l)), l);
  EXPECT_THROW(parse_level("everything"), ProbeError);
}

}  // namespace
}  // namespace skv::probes
