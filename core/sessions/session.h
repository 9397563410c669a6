#pragma once
// A recorded run on disk: a directory holding manifest.json (what ran, where, with what) and one
// .npy file per data array (numpy.load reads each directly). docs/SESSION_FORMAT.md is the spec.
//
// The manifest is the commit point: arrays are written first, the manifest last, each file
// replaced atomically. An array file may hold rows beyond what the manifest lists (an autosave
// that was cut off after its arrays, before its manifest); readers keep the manifest's rows.
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/sessions/npy.h"

namespace skv {

// Version 1: the first format. Readers refuse newer versions and versions older than
// kOldestReadableSessionFormat, naming both.
inline constexpr int kSessionFormatVersion = 1;
inline constexpr int kOldestReadableSessionFormat = 1;

// Where and with what a session was recorded.
struct RunEnvironment {
  std::string tool_version;   // SKV_VERSION
  std::string git_revision;   // "abc123…[-dirty]" or "unknown"
  std::string device;         // "cpu (2 threads)", "cuda:0 NVIDIA H100 …"
  std::string driver_version; // NVIDIA kernel driver, "" without one
  std::string cuda_version;   // CUDA runtime torch was built with, "" for CPU builds
  std::string torch_version;
  std::string host;
  std::string os;
};
// Fills tool version, git revision, driver version, host and OS; the caller adds device, CUDA
// and torch versions (core/sessions does not include libtorch).
RunEnvironment capture_environment();

struct ModelInfo {
  std::string spec;       // what the user asked for ("default", a path)
  std::string name;       // config name, e.g. "SmolLM2-135M-Instruct"
  std::string identity;   // WeightSource::identity(): path + content hash, or seed
  std::string file_hash;  // the hash part of identity ("" for seeded random weights)
  nlohmann::json config = nlohmann::json::object();  // model_config_to_json
};

// What an array holds, for readers and reports. kind is one of:
//   series      per decode step, shape [steps]
//   tier_shares [steps, layers, heads, tiers] share of tokens per tier
//   tier_image  [steps, tokens] tier code per token (255 = token not yet present) of one head
//   heatmap     [steps, layers, heads] per-step map (attention-output relative error, ...)
//   probe       a column of probe records (kernels, counters, samples, modeled bytes, CPU timings)
//   tokens      prompt / generated ids and text bytes
//   other       anything else
struct ArrayMeta {
  std::string kind = "other";
  std::string unit;
  std::string description;
};

struct Session {
  int format_version = kSessionFormatVersion;
  std::string created_utc, updated_utc;
  nlohmann::json config = nlohmann::json::object();  // the run's options (prompt, policy, budget, probe, ...)
  ModelInfo model;
  RunEnvironment environment;
  uint64_t seed = 0;
  int64_t steps = 0;       // decode steps recorded (rows of every series)
  bool complete = false;   // false while recording or when the run was cut off
  nlohmann::json summary = nlohmann::json::object();
  std::vector<std::string> statuses;  // probe and recorder messages worth reading
  std::map<std::string, std::vector<std::string>> string_tables;  // id -> text for *_id columns
  std::map<std::string, NpyArray> arrays;  // name ("series/latency_ms") -> data; file = name + ".npy"
  std::map<std::string, ArrayMeta> meta;

  void put(const std::string& name, NpyArray array, ArrayMeta m);
  bool has(const std::string& name) const { return arrays.count(name) != 0; }
  const NpyArray& array(const std::string& name) const;  // throws skv::Error naming the array
  std::vector<double> values(const std::string& name) const { return array(name).to_double(); }
  // Names of the arrays of one kind, sorted.
  std::vector<std::string> names_of_kind(const std::string& kind) const;
  // The generated text (tokens/text bytes) and ids, empty when absent.
  std::string generated_text() const;
};

// Throws skv::Error unless name is a relative path of [A-Za-z0-9_.-] parts.
void validate_array_name(const std::string& name);

nlohmann::json session_manifest(const Session& s);
// Writes the listed arrays (all when `only` is null), then the manifest. Every file is replaced
// atomically; the directory is created if needed.
void write_session(const std::filesystem::path& dir, const Session& s, const std::vector<std::string>* only = nullptr);
// Reads a session; errors name the file (manifest.json or the .npy) and say what is wrong.
Session read_session(const std::filesystem::path& dir);
bool is_session_dir(const std::filesystem::path& dir);  // has a manifest.json

std::string utc_now_iso8601();

}  // namespace skv
