#pragma once
// Saved sessions in the Studio: what a session (core/sessions, docs/SESSION_FORMAT.md) looks like
// to the panels. Replay turns a session into the same StudioSnapshot a live run publishes, cut at a
// chosen step, so every panel (plots, tier map, heatmap, tokens) shows the session's own data.
// Compare reduces a session to a few headline numbers. No libtorch, no ImGui.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "app/studio/studio_types.h"
#include "core/sessions/session.h"

namespace skv::studio {

struct OpenSession {
  std::string dir;
  std::string label;  // folder name
  std::shared_ptr<const Session> session;
};

// Reads a session directory through core/sessions' reader. Throws skv::Error (the reader's message:
// which file, what is wrong) for a missing, corrupt or too-new session.
OpenSession open_session(const std::string& dir);

// The session as the live panels would have shown it after `steps` decode steps (1..session steps;
// clamped). Series, tokens, tier shares and the recorded head's tier image, and the attention-error
// heatmap of that step (mean = mean over the steps so far) come from the session's arrays.
StudioSnapshot replay_snapshot(const OpenSession& s, int64_t steps);

// The session's stored probe stream (probe/ columns: kernels, counters, modeled bytes, CPU
// timings) as the probe worker would have published it after `steps` decode steps: records of
// steps 0..steps-1, plus records outside any step (step -1) once the replay reaches the end.
// Statuses come from the session's statuses. Empty when the session has no probe/ columns.
probes::ProbeSnapshot replay_probe_snapshot(const OpenSession& s, int64_t steps);

// Headline numbers of one session (NaN where the session has no such series).
struct SessionMetrics {
  std::string label, policy, model, device;
  int64_t steps = 0;
  bool complete = false;
  double prefill_ms = NAN;
  double latency_ms = NAN;        // mean decode-step latency (steps >= 1)
  double tokens_per_s = NAN;      // 1000 / latency_ms
  double kl = NAN;                // mean KL(full || compressed), nats
  double top1 = NAN;              // mean top-1 agreement
  double resident_bytes = NAN;    // mean resident KV bytes
  double resident_fraction = NAN; // mean resident / full fp16 bytes
  double attn_error = NAN;        // mean attention-output relative error
};
SessionMetrics session_metrics(const OpenSession& s);

// One per-step series of a session by its name under series/ ("latency_ms"); empty when absent.
std::vector<double> session_series(const OpenSession& s, const std::string& name);

}  // namespace skv::studio
