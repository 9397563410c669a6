#include "core/sessions/session.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <ctime>
#include <fstream>

#include "core/common/error.h"
#include "core/sessions/atomic_file.h"

namespace skv {
namespace fs = std::filesystem;
using nlohmann::json;
namespace {

std::string run_command(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return out;
  std::array<char, 256> buf{};
  while (std::fgets(buf.data(), buf.size(), p)) out += buf.data();
  if (::pclose(p) != 0) return "";
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

// The checkout this binary was built from (its assets folder sits in it), at run time: a
// configure-time revision goes stale as soon as someone commits without reconfiguring.
std::string git_revision() {
#ifdef SKV_GIT_REVISION
  if (std::string(SKV_GIT_REVISION) != "") return SKV_GIT_REVISION;
#endif
#ifdef SKV_ASSETS_DIR
  const fs::path src = fs::path(SKV_ASSETS_DIR).parent_path();
  std::error_code ec;
  if (fs::exists(src / ".git", ec)) {
    const std::string q = "'" + src.string() + "'";
    std::string rev = run_command("git -C " + q + " rev-parse HEAD 2>/dev/null");
    if (!rev.empty()) {
      std::string dirty = run_command("git -C " + q + " status --porcelain --untracked-files=no 2>/dev/null");
      return dirty.empty() ? rev : rev + "-dirty";
    }
  }
#endif
  return "unknown";
}

std::string nvidia_driver_version() {
  std::ifstream f("/proc/driver/nvidia/version");
  std::string line;
  if (!f || !std::getline(f, line)) return "";
  // "NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.15  Tue Mar  5 ..."
  auto k = line.find("Kernel Module");
  if (k == std::string::npos) return line;
  std::string rest = line.substr(k + 13);
  rest.erase(0, rest.find_first_not_of(' '));
  return rest.substr(0, rest.find(' '));
}

json to_json(const RunEnvironment& e) {
  return {{"tool_version", e.tool_version}, {"git_revision", e.git_revision}, {"device", e.device},
          {"driver_version", e.driver_version}, {"cuda_version", e.cuda_version},
          {"torch_version", e.torch_version}, {"host", e.host}, {"os", e.os}};
}

std::string str_or(const json& j, const char* key) { return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : ""; }

std::string shape_text(const std::vector<int64_t>& s) {
  std::string t = "(";
  for (std::size_t k = 0; k < s.size(); ++k) t += (k ? "," : "") + std::to_string(s[k]);
  return t + ")";
}

// Keeps the leading block [0:want[0], 0:want[1], ...] of a C-order array.
NpyArray crop(const NpyArray& a, const std::vector<int64_t>& want) {
  NpyArray out;
  out.type = a.type;
  out.shape = want;
  const std::size_t item = npy_item_size(a.type);
  out.bytes.resize(static_cast<std::size_t>(out.numel()) * item);
  if (out.bytes.empty()) return out;
  const std::size_t nd = want.size();
  // Copy runs of the innermost dimension.
  const std::size_t run = static_cast<std::size_t>(want.back()) * item;
  std::vector<int64_t> idx(nd, 0);
  const int64_t outer = out.numel() / want.back();
  for (int64_t r = 0; r < outer; ++r) {
    int64_t src = 0;
    for (std::size_t d = 0; d + 1 < nd; ++d) src = src * a.shape[d] + idx[d];
    src *= a.shape[nd - 1];
    std::memcpy(out.bytes.data() + r * run, a.bytes.data() + src * item, run);
    for (int64_t d = static_cast<int64_t>(nd) - 2; d >= 0; --d) {
      if (++idx[d] < want[d]) break;
      idx[d] = 0;
    }
  }
  return out;
}

}  // namespace

RunEnvironment capture_environment() {
  RunEnvironment e;
#ifdef SKV_VERSION
  e.tool_version = SKV_VERSION;
#else
  e.tool_version = "unknown";
#endif
  e.git_revision = git_revision();
  e.driver_version = nvidia_driver_version();
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) == 0) e.host = host;
  struct utsname u {};
  if (::uname(&u) == 0) e.os = std::string(u.sysname) + " " + u.release + " " + u.machine;
  return e;
}

std::string utc_now_iso8601() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

void validate_array_name(const std::string& name) {
  bool ok = !name.empty() && name.front() != '/' && name.back() != '/';
  std::size_t start = 0;
  while (ok && start <= name.size()) {
    std::size_t end = name.find('/', start);
    if (end == std::string::npos) end = name.size();
    std::string part = name.substr(start, end - start);
    ok = !part.empty() && part != "." && part != ".." &&
         std::all_of(part.begin(), part.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.'; });
    start = end + 1;
  }
  if (!ok) throw Error("array name '" + name + "' is not a relative path of [A-Za-z0-9_.-] parts");
}

void Session::put(const std::string& name, NpyArray a, ArrayMeta m) {
  validate_array_name(name);
  a.check_size();
  arrays[name] = std::move(a);
  meta[name] = std::move(m);
}

const NpyArray& Session::array(const std::string& name) const {
  auto it = arrays.find(name);
  if (it == arrays.end()) throw Error("the session has no array '" + name + "'");
  return it->second;
}

std::vector<std::string> Session::names_of_kind(const std::string& kind) const {
  std::vector<std::string> out;
  for (const auto& [name, m] : meta)
    if (m.kind == kind && arrays.count(name)) out.push_back(name);
  return out;
}

std::string Session::generated_text() const {
  if (!has("tokens/text")) return "";
  auto b = array("tokens/text").as<uint8_t>();
  return std::string(b.begin(), b.end());
}

json session_manifest(const Session& s) {
  json j;
  j["format"] = "skv-session";
  j["format_version"] = s.format_version;
  j["created_utc"] = s.created_utc;
  j["updated_utc"] = s.updated_utc;
  j["tool"] = {{"name", "skv"}, {"version", s.environment.tool_version}, {"git_revision", s.environment.git_revision}};
  j["environment"] = to_json(s.environment);
  j["model"] = {{"spec", s.model.spec}, {"name", s.model.name}, {"identity", s.model.identity},
                {"file_hash", s.model.file_hash}, {"config", s.model.config}};
  j["config"] = s.config;
  j["seed"] = s.seed;
  j["steps"] = s.steps;
  j["complete"] = s.complete;
  j["summary"] = s.summary;
  j["statuses"] = s.statuses;
  j["string_tables"] = s.string_tables;
  json arrays = json::object();
  for (const auto& [name, a] : s.arrays) {
    const ArrayMeta& m = s.meta.count(name) ? s.meta.at(name) : ArrayMeta{};
    arrays[name] = {{"file", name + ".npy"}, {"dtype", npy_type_name(a.type)}, {"shape", a.shape},
                    {"kind", m.kind}, {"unit", m.unit}, {"description", m.description}};
  }
  j["arrays"] = arrays;
  return j;
}

void write_session(const fs::path& dir, const Session& s, const std::vector<std::string>* only) {
  make_directories_durable(dir);
  auto write_one = [&](const std::string& name) {
    const fs::path file = dir / (name + ".npy");
    if (!fs::is_directory(file.parent_path())) make_directories_durable(file.parent_path());
    npy_save(file, s.array(name));
  };
  if (only) {
    for (const auto& name : *only) write_one(name);
  } else {
    for (const auto& [name, a] : s.arrays) write_one(name);
  }
  // Replace invalid UTF-8 (token pieces are raw bytes) instead of failing the save.
  write_file_atomic(dir / "manifest.json",
                    session_manifest(s).dump(2, ' ', false, json::error_handler_t::replace) + "\n");
}

bool is_session_dir(const fs::path& dir) { return fs::is_regular_file(dir / "manifest.json"); }

Session read_session(const fs::path& dir) {
  const fs::path mpath = dir / "manifest.json";
  if (!fs::exists(mpath)) throw Error(mpath.string() + ": no such file (is " + dir.string() + " a session directory?)");
  json j;
  try {
    j = json::parse(read_file_text(mpath));
  } catch (const json::exception& e) {
    throw Error(mpath.string() + ": corrupt or truncated JSON (" + std::string(e.what()) + ")");
  }
  Session s;
  try {
    if (!j.is_object() || j.value("format", "") != "skv-session")
      throw Error(mpath.string() + ": not an skv session manifest (no \"format\": \"skv-session\")");
    if (!j.contains("format_version") || !j["format_version"].is_number_integer())
      throw Error(mpath.string() + ": format_version is missing");
    s.format_version = j["format_version"].get<int>();
    if (s.format_version > kSessionFormatVersion)
      throw Error(mpath.string() + ": session format version " + std::to_string(s.format_version) +
                  " is newer than this skv reads (version " + std::to_string(kSessionFormatVersion) + "); update skv");
    if (s.format_version < kOldestReadableSessionFormat)
      throw Error(mpath.string() + ": session format version " + std::to_string(s.format_version) +
                  " is older than this skv reads (versions " + std::to_string(kOldestReadableSessionFormat) + " to " +
                  std::to_string(kSessionFormatVersion) + "); re-record it or use an older skv");
    s.created_utc = str_or(j, "created_utc");
    s.updated_utc = str_or(j, "updated_utc");
    const json& env = j.value("environment", json::object());
    s.environment = {str_or(env, "tool_version"), str_or(env, "git_revision"), str_or(env, "device"),
                     str_or(env, "driver_version"), str_or(env, "cuda_version"), str_or(env, "torch_version"),
                     str_or(env, "host"), str_or(env, "os")};
    const json& m = j.value("model", json::object());
    s.model = {str_or(m, "spec"), str_or(m, "name"), str_or(m, "identity"), str_or(m, "file_hash"),
               m.value("config", json::object())};
    s.config = j.value("config", json::object());
    s.seed = j.value("seed", uint64_t{0});
    s.steps = j.value("steps", int64_t{0});
    s.complete = j.value("complete", false);
    s.summary = j.value("summary", json::object());
    s.statuses = j.value("statuses", std::vector<std::string>{});
    s.string_tables = j.value("string_tables", std::map<std::string, std::vector<std::string>>{});
    if (!j.contains("arrays") || !j["arrays"].is_object()) throw Error(mpath.string() + ": \"arrays\" is missing");
  } catch (const json::exception& e) {
    throw Error(mpath.string() + ": a field has the wrong type (" + std::string(e.what()) + ")");
  }
  for (const auto& [name, entry] : j["arrays"].items()) {
    ArrayMeta meta;
    std::string file;
    NpyType type;
    std::vector<int64_t> want;
    try {
      validate_array_name(name);
      file = entry.at("file").get<std::string>();
      validate_array_name(file);
      type = npy_type_from_name(entry.at("dtype").get<std::string>());
      want = entry.at("shape").get<std::vector<int64_t>>();
      meta.kind = entry.value("kind", "other");
      meta.unit = entry.value("unit", "");
      meta.description = entry.value("description", "");
    } catch (const json::exception& e) {
      throw Error(mpath.string() + ": array '" + name + "' entry is malformed (" + std::string(e.what()) + ")");
    } catch (const Error& e) {
      throw Error(mpath.string() + ": " + e.what());
    }
    const fs::path path = dir / file;
    if (!fs::exists(path)) throw Error(path.string() + ": missing (the manifest lists it)");
    NpyArray a = npy_load(path);
    if (a.type != type)
      throw Error(path.string() + ": holds " + npy_type_name(a.type) + ", the manifest says " + npy_type_name(type));
    if (a.shape != want) {
      bool contains = a.shape.size() == want.size();
      for (std::size_t d = 0; contains && d < want.size(); ++d) contains = a.shape[d] >= want[d];
      if (!contains)
        throw Error(path.string() + ": shape " + shape_text(a.shape) + " is smaller than the manifest's " +
                    shape_text(want) + " (truncated or replaced)");
      a = crop(a, want);  // rows of an autosave that never committed its manifest
    }
    s.arrays[name] = std::move(a);
    s.meta[name] = meta;
  }
  return s;
}

}  // namespace skv
