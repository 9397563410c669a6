#pragma once
// Records a live run into a session directory: appends in memory and autosaves every N steps or
// T seconds, so a run that is killed leaves everything up to its last autosave on disk.
//
// One thread drives it (the decode thread, or the GUI's recorder thread); it is not thread-safe.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/sessions/session.h"
#include "probes/probe_records.h"

namespace skv {

struct RecorderOptions {
  int64_t autosave_every_steps = 16;    // 0 = never by step count
  double autosave_every_seconds = 5.0;  // 0 = never by time
};

class SessionRecorder {
 public:
  // `header` carries config, model, environment and seed; its arrays (if any) are kept. Writes a
  // first manifest at once, so even a run killed before its first step leaves a session.
  SessionRecorder(std::filesystem::path dir, Session header, RecorderOptions options = {});

  // A value of the current step for series `name` (stored as series/<name>.npy, float64). A
  // series first seen at step k reads NaN for steps < k; one not set in a step reads NaN there.
  void record(const std::string& name, double value, const std::string& unit = "", const std::string& description = "");
  // Appends one step-row to an array [steps, ...frame.shape] (heatmaps, tier shares).
  void append_frame(const std::string& name, const NpyArray& frame, const ArrayMeta& meta);
  // Appends one row to a [steps, width] uint8 image whose width grows with the row lengths
  // (per-head token x time tier images); cells past a row's end hold `pad`.
  void append_padded_row(const std::string& name, const std::vector<uint8_t>& row, uint8_t pad, const ArrayMeta& meta);
  // Closes the current step: every series gets a row. May autosave.
  void end_step();

  void set_prompt(const std::vector<int32_t>& ids, const std::string& text);
  void add_token(int32_t id, const std::string& piece);
  // Kernel, counter, sample, modeled-bytes and CPU timing records become columns under probe/;
  // status records become statuses. May autosave.
  void add_probe_records(const std::vector<probes::Record>& records);
  void add_status(const std::string& message);
  void set_summary(const std::string& key, const nlohmann::json& value);
  // A whole array, replaced (final results).
  void put_array(const std::string& name, NpyArray array, const ArrayMeta& meta);

  // Writes what changed since the last save, then the manifest (the commit point).
  void flush();
  // Marks the session complete and flushes.
  void finish();

  const Session& session() const { return session_; }
  int64_t steps() const { return session_.steps; }
  const std::filesystem::path& dir() const { return dir_; }
  int64_t flushes() const { return flushes_; }

 private:
  template <typename T>
  void push(const std::string& name, T value, const ArrayMeta& meta);
  int32_t intern(const std::string& table, const std::string& text);
  void maybe_autosave();

  std::filesystem::path dir_;
  Session session_;
  RecorderOptions options_;
  std::unordered_map<std::string, double> pending_;  // series values of the open step
  std::set<std::string> dirty_;
  int64_t steps_at_save_ = 0;
  int64_t flushes_ = 0;
  std::chrono::steady_clock::time_point last_save_;
  std::unordered_map<std::string, std::unordered_map<std::string, int32_t>> interned_;
};

}  // namespace skv
