// Failure paths: each missing piece becomes a StatusRecord and a lower level, never a crash.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "probes/cupti_library.h"
#include "probes/probe.h"
#include "probes/probe_worker.h"
#include "probes/cupti_timeline.h"
#include "probes/probe_overhead.h"

namespace skv::probes {
namespace {

std::vector<std::string> status_messages(Probe& probe) {
  std::vector<Record> out;
  probe.drain(out);
  std::vector<std::string> msgs;
  for (const auto& r : out) {
    if (const auto* s = std::get_if<StatusRecord>(&r)) msgs.push_back(s->message.str());
  }
  return msgs;
}

bool any_contains(const std::vector<std::string>& msgs, const std::string& needle) {
  for (const auto& m : msgs) {
    if (m.find(needle) != std::string::npos) return true;
  }
  return false;
}

TEST(ProbeLibraries, MissingLibraryIsNamedInTheError) {
  std::string tried, loaded;
  EXPECT_EQ(open_first_library({"/nonexistent/libcupti.so.13", "/also/missing.so"}, &tried, &loaded), nullptr);
  EXPECT_NE(tried.find("/nonexistent/libcupti.so.13"), std::string::npos);
  EXPECT_NE(tried.find("/also/missing.so"), std::string::npos);
}

TEST(ProbeFailures, NoLibcuptiDegradesToCpuAndSaysWhichLibrary) {
  ProbeOptions opt;
  opt.libraries.cupti = {"/nonexistent/libcupti.so.13"};
  Probe probe(opt);
  EXPECT_EQ(probe.start(Level::counters), Level::cpu);
  const auto msgs = status_messages(probe);
#if SKV_PROBES_HAVE_CUPTI_HEADERS
  EXPECT_TRUE(any_contains(msgs, "CUPTI library not found"));
  EXPECT_TRUE(any_contains(msgs, "/nonexistent/libcupti.so.13"));
#else
  EXPECT_TRUE(any_contains(msgs, "no CUPTI headers"));
#endif
  EXPECT_TRUE(any_contains(msgs, "probe level cpu (asked for counters)"));
  // Decoding goes on: ranges still produce CPU timings.
  probe.begin_step(0);
  probe.end_step();
  std::vector<Record> out;
  probe.drain(out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<CpuTimingRecord>(out[0]));
}

TEST(ProbeOverhead, ReportsBothTimingsAtCpuLevel) {
  Probe probe;
  volatile std::uint64_t sink = 0;
  const OverheadReport r = measure_overhead(probe, Level::cpu, 20, [&](std::int64_t s) {
    for (int i = 0; i < 2000; ++i) sink = sink + static_cast<std::uint64_t>(s * i);
  });
  EXPECT_EQ(r.achieved, Level::cpu);
  EXPECT_GT(r.ns_per_step_off, 0.0);
  EXPECT_GT(r.ns_per_step_on, 0.0);
  EXPECT_NE(r.to_json().find("\"achieved\":\"cpu\""), std::string::npos);
  EXPECT_EQ(probe.level(), Level::off);
}

#if SKV_PROBES_HAVE_CUPTI_HEADERS

// A fake CUPTI/driver where everything works except what a test breaks.
struct FakeState {
  int device_count = 1;
  CUptiResult subscribe = CUPTI_SUCCESS;
  CUptiResult counter_availability = CUPTI_SUCCESS;
  CUptiResult activity_enable = CUPTI_SUCCESS;
  int pushes = 0;
  int pops = 0;
  int flushes = 0;
  std::vector<std::thread::id> flush_threads;  // who called cuptiActivityFlushAll
};
FakeState g_fake;

std::shared_ptr<const CuptiApi> fake_api() {
  auto api = std::make_shared<CuptiApi>();
  api->cuptiGetResultString = [](CUptiResult, const char** s) {
    *s = "fake error";
    return CUPTI_SUCCESS;
  };
  api->cuInit = [](unsigned) { return CUDA_SUCCESS; };
  api->cuDeviceGetCount = [](int* n) {
    *n = g_fake.device_count;
    return CUDA_SUCCESS;
  };
  api->cuDeviceGet = [](CUdevice* d, int) {
    *d = 0;
    return CUDA_SUCCESS;
  };
  api->cuCtxGetCurrent = [](CUcontext* c) {
    *c = reinterpret_cast<CUcontext>(0x1000);
    return CUDA_SUCCESS;
  };
  api->cuCtxGetDevice = [](CUdevice* d) {
    *d = 0;
    return CUDA_SUCCESS;
  };
  api->cuptiSubscribe = [](CUpti_SubscriberHandle* h, CUpti_CallbackFunc, void*) {
    *h = reinterpret_cast<CUpti_SubscriberHandle>(0x2000);
    return g_fake.subscribe;
  };
  api->cuptiUnsubscribe = [](CUpti_SubscriberHandle) { return CUPTI_SUCCESS; };
  api->cuptiActivityRegisterCallbacks = [](CUpti_BuffersCallbackRequestFunc, CUpti_BuffersCallbackCompleteFunc) {
    return CUPTI_SUCCESS;
  };
  api->cuptiActivityEnable = [](CUpti_ActivityKind) { return g_fake.activity_enable; };
  api->cuptiActivityDisable = [](CUpti_ActivityKind) { return CUPTI_SUCCESS; };
  api->cuptiActivityFlushAll = [](uint32_t) {
    ++g_fake.flushes;
    g_fake.flush_threads.push_back(std::this_thread::get_id());
    return CUPTI_SUCCESS;
  };
  api->cuptiActivityPushExternalCorrelationId = [](CUpti_ExternalCorrelationKind, uint64_t) {
    ++g_fake.pushes;
    return CUPTI_SUCCESS;
  };
  api->cuptiActivityPopExternalCorrelationId = [](CUpti_ExternalCorrelationKind, uint64_t*) {
    ++g_fake.pops;
    return CUPTI_SUCCESS;
  };
  api->cuptiProfilerInitialize = [](CUpti_Profiler_Initialize_Params*) { return CUPTI_SUCCESS; };
  api->cuptiProfilerDeInitialize = [](CUpti_Profiler_DeInitialize_Params*) { return CUPTI_SUCCESS; };
  api->cuptiDeviceGetChipName = [](CUpti_Device_GetChipName_Params* p) {
    p->pChipName = "GH100";
    return CUPTI_SUCCESS;
  };
  api->cuptiProfilerGetCounterAvailability = [](CUpti_Profiler_GetCounterAvailability_Params*) {
    return g_fake.counter_availability;
  };
  return api;
}

class ProbeFakeCupti : public ::testing::Test {
 protected:
  void SetUp() override { g_fake = FakeState{}; }
};

TEST_F(ProbeFakeCupti, InsufficientPrivilegesDegradesCountersToTimelineWithActionableMessage) {
  g_fake.counter_availability = CUPTI_ERROR_INSUFFICIENT_PRIVILEGES;
  ProbeOptions opt;
  opt.api_override = fake_api();
  Probe probe(opt);
  EXPECT_EQ(probe.start(Level::counters), Level::timeline);
  const auto msgs = status_messages(probe);
  EXPECT_TRUE(any_contains(msgs, "GPU performance counters need root or the NVreg_RestrictProfilingToAdminUsers=0 driver option"));
  EXPECT_TRUE(any_contains(msgs, "falling back to the kernel timeline"));
  // Decoding goes on at the timeline level: ranges push/pop correlation ids, steps flush.
  probe.begin_step(3);
  probe.push_range("attn L0", kNoStep, 0);
  probe.pop_range();
  probe.end_step();
  EXPECT_EQ(g_fake.pushes, 2);
  EXPECT_EQ(g_fake.pops, 2);
  probe.stop();
  EXPECT_GE(g_fake.flushes, 1);  // stop() hands over what CUPTI still holds
  EXPECT_EQ(probe.level(), Level::off);
}

// With flush_period the decode thread flushes at the end of a step once the period has passed,
// and a ProbeWorker started with flush_probe = false never calls CUPTI: every flush comes from the
// thread that runs the steps (the Studio's setup; docs/STUDIO.md says why).
TEST_F(ProbeFakeCupti, FlushPeriodFlushesOnTheDecodeThreadOnly) {
  ProbeOptions opt;
  opt.api_override = fake_api();
  opt.flush_period = std::chrono::milliseconds(20);
  Probe probe(opt);
  ProbeWorker worker(probe);
  worker.start(std::chrono::milliseconds(1), /*flush_probe=*/false);
  ASSERT_EQ(probe.start(Level::timeline), Level::timeline);
  const auto decode_thread = std::this_thread::get_id();
  const auto t0 = std::chrono::steady_clock::now();
  int steps = 0;
  while (std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(130)) {
    probe.begin_step(steps);
    probe.push_range("attn L0", kNoStep, 0);  // inner ranges never flush
    probe.pop_range();
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    probe.end_step();
    ++steps;
  }
  const int during_run = g_fake.flushes;
  worker.stop();
  probe.stop();
  // ~130 ms of steps at a 20 ms period: at most one flush per period (130 / 20 + 1), however
  // many steps a loaded machine fits in, and at least two.
  EXPECT_GE(during_run, 2);
  EXPECT_LE(during_run, 7);
  for (const auto& id : g_fake.flush_threads) EXPECT_EQ(id, decode_thread);
}

TEST_F(ProbeFakeCupti, WorkerFlushesWhenAskedTo) {
  ProbeOptions opt;
  opt.api_override = fake_api();
  Probe probe(opt);
  ASSERT_EQ(probe.start(Level::timeline), Level::timeline);
  ProbeWorker worker(probe);
  worker.start(std::chrono::milliseconds(1), /*flush_probe=*/true);
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  worker.stop();
  const std::vector<std::thread::id> threads = g_fake.flush_threads;
  probe.stop();
  ASSERT_GE(threads.size(), 2u);
  for (const auto& id : threads) EXPECT_NE(id, std::this_thread::get_id());
}

TEST_F(ProbeFakeCupti, AnotherProfilerAttachedDegradesToCpu) {
  g_fake.subscribe = CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED;
  ProbeOptions opt;
  opt.api_override = fake_api();
  Probe probe(opt);
  EXPECT_EQ(probe.start(Level::timeline), Level::cpu);
  const auto msgs = status_messages(probe);
  EXPECT_TRUE(any_contains(msgs, "another profiler is attached"));
  EXPECT_TRUE(any_contains(msgs, "torch.profiler"));
}

TEST_F(ProbeFakeCupti, NoGpuDegradesToCpu) {
  g_fake.device_count = 0;
  ProbeOptions opt;
  opt.api_override = fake_api();
  Probe probe(opt);
  EXPECT_EQ(probe.start(Level::counters), Level::cpu);
  EXPECT_TRUE(any_contains(status_messages(probe), "no CUDA GPU found"));
}

TEST_F(ProbeFakeCupti, TimelineFailureDegradesToCpu) {
  g_fake.activity_enable = CUPTI_ERROR_NOT_SUPPORTED;
  ProbeOptions opt;
  opt.api_override = fake_api();
  Probe probe(opt);
  EXPECT_EQ(probe.start(Level::timeline), Level::cpu);
  EXPECT_TRUE(any_contains(status_messages(probe), "does not support CUPTI kernel activity"));
}

TEST(ProbeCorrelation, StepAndLayerRoundTripThroughTheExternalId) {
  for (std::int64_t step : {kNoStep, std::int64_t{0}, std::int64_t{12}, std::int64_t{1} << 40}) {
    for (std::int32_t layer : {kNoLayer, 0, 3, 500000}) {
      std::int64_t s = 0;
      std::int32_t l = 0;
      unpack_correlation(pack_correlation(step, layer), &s, &l);
      EXPECT_EQ(s, step);
      EXPECT_EQ(l, layer);
    }
  }
}

#endif  // SKV_PROBES_HAVE_CUPTI_HEADERS

}  // namespace
}  // namespace skv::probes
