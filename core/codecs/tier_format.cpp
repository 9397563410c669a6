#include "core/codecs/tier_format.h"

#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "core/codecs/block_vq_page.h"
#include "core/codecs/lloyd_max.h"
#include "core/common/error.h"

namespace skv::codecs {
namespace {

using nlohmann::json;

[[noreturn]] void fail(const std::string& origin, const std::string& what) {
  throw Error("tier format " + origin + ": " + what);
}

void only_keys(const json& j, const std::set<std::string>& allowed, const std::string& origin,
               const std::string& where) {
  for (auto it = j.begin(); it != j.end(); ++it)
    if (!allowed.count(it.key())) {
      std::string list;
      for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
      fail(origin, "unknown field '" + where + it.key() + "' (allowed: " + list + ")");
    }
}

int get_int(const json& j, const char* key, int lo, int hi, const std::string& origin, const std::string& where) {
  if (!j.contains(key)) fail(origin, "missing field '" + where + key + "'");
  const json& v = j.at(key);
  if (!v.is_number_integer() || v.get<long long>() < lo || v.get<long long>() > hi)
    fail(origin, "'" + where + key + "' must be an integer in " + std::to_string(lo) + ".." + std::to_string(hi) +
                     ", got " + v.dump());
  return v.get<int>();
}

json read_json(const std::filesystem::path& file, const char* what) {
  std::ifstream in(file);
  if (!in) throw Error(std::string(what) + " " + file.string() + ": cannot open the file");
  try {
    return json::parse(in);
  } catch (const json::parse_error& e) {
    throw Error(std::string(what) + " " + file.string() + ": invalid JSON (" + e.what() + ")");
  }
}

}  // namespace

kernels::TierLayout TierFormat::layout(int head_dim) const {
  if (cpu_only())
    throw Error("tier " + name + ": keys " + key_codec_spec() +
                " are CPU-only (skv codec-eval); the KV cache and the ADA kernels (CPU and CUDA) take "
                "fp16, coord-lloyd or pair-polar keys");
  kernels::TierLayout l;
  l.head_dim = head_dim;
  l.key_kind = key_kind;
  l.key_bits = key_bits;
  l.key_radius_bits = key_radius_bits;
  l.value_kind = value_kind;
  l.value_bits = value_bits;
  l.page_mean = page_mean;
  l.page_tokens = page_tokens;
  if (const char* why = kernels::validate_layout(l)) throw Error("tier " + name + ": " + why);
  return l;
}

kernels::TierLayout TierFormat::value_layout(int head_dim) const {
  kernels::TierLayout l;
  l.head_dim = head_dim;
  l.key_kind = kernels::KeyKind::kFp16;
  l.value_kind = value_kind;
  l.value_bits = value_bits;
  l.page_mean = false;
  l.page_tokens = page_tokens;
  if (const char* why = kernels::validate_layout(l)) throw Error("tier " + name + ": " + why);
  return l;
}

std::string TierFormat::key_codec_spec() const {
  if (cpu_only()) return "block-vq(" + std::to_string(key_block_dim) + "," + std::to_string(key_bits) + ")";
  const std::string suffix = nested ? ")" : ",unnested)";
  switch (key_kind) {
    case kernels::KeyKind::kCoord: return "coord-lloyd(" + std::to_string(key_bits) + suffix;
    case kernels::KeyKind::kPair:
      return "pair-polar(" + std::to_string(key_bits) + "," + std::to_string(key_radius_bits) + suffix;
    default: return "";
  }
}
std::string TierFormat::value_codec_spec() const {
  return value_kind == kernels::ValueKind::kCoord
             ? "coord-lloyd(" + std::to_string(value_bits) + (nested ? ")" : ",unnested)")
             : "";
}

TierRate tier_rate(const TierFormat& t, int head_dim) {
  TierRate r;
  if (t.cpu_only()) {  // block_vq_page.h lays the page out like ada_layout.h
    const BlockVqPageLayout o = block_vq_page_layout(t, head_dim);
    const double elems = double(t.page_tokens) * head_dim;
    r.key_bits_per_element = 8.0 * double((o.values - o.key_codes) + (o.total - o.mean)) / elems;
    r.value_bits_per_element = 8.0 * double(o.mean - o.values) / elems;
    r.meta_bits_per_element = 8.0 * kernels::kPageMetaBytes / elems;
    r.bits_per_element = 0.5 * (r.key_bits_per_element + r.value_bits_per_element + r.meta_bits_per_element);
    r.bytes_per_token_per_head = double(o.total + kernels::kPageMetaBytes) / t.page_tokens;
    r.page_bytes = o.total;
    return r;
  }
  const kernels::TierLayout l = t.layout(head_dim);
  r.key_bits_per_element = kernels::key_bits_per_element(l);
  r.value_bits_per_element = kernels::value_bits_per_element(l);
  r.meta_bits_per_element = 8.0 * kernels::kPageMetaBytes / double(l.page_tokens * l.head_dim);
  r.bits_per_element = 0.5 * kernels::total_bits_per_element(l);
  r.bytes_per_token_per_head = kernels::bytes_per_token_per_head(l);
  r.page_bytes = kernels::page_bytes(l);
  return r;
}

kernels::TierCodebooks TierCodebookSet::view() const {
  kernels::TierCodebooks b;
  b.key_levels = key_levels.empty() ? nullptr : key_levels.data();
  b.value_levels = value_levels.empty() ? nullptr : value_levels.data();
  return b;
}

TierCodebookSet tier_codebooks(const TierFormat& t, int head_dim) {
  t.layout(head_dim);  // validates
  TierCodebookSet s;
  if (t.key_kind == kernels::KeyKind::kCoord) s.key_levels = cached_codebook("coord", head_dim, t.key_bits, t.nested).levels_f32();
  if (t.key_kind == kernels::KeyKind::kPair)
    s.key_levels = t.key_radius_bits == 0 ? std::vector<float>{1.0f}
                                          : cached_codebook("radius", head_dim, t.key_radius_bits, t.nested).levels_f32();
  if (t.value_kind == kernels::ValueKind::kCoord)
    s.value_levels = cached_codebook("coord", head_dim, t.value_bits, t.nested).levels_f32();
  return s;
}

TierFormat parse_tier_format(const json& j, const std::string& origin) {
  if (!j.is_object()) fail(origin, "the top level must be a JSON object");
  only_keys(j, {"name", "description", "key", "value", "page_mean", "page_tokens", "codebook"}, origin, "");
  TierFormat t;
  if (!j.contains("name") || !j["name"].is_string() || j["name"].get<std::string>().empty())
    fail(origin, "missing string field 'name'");
  t.name = j["name"].get<std::string>();
  if (j.contains("description")) {
    if (!j["description"].is_string()) fail(origin, "'description' must be a string");
    t.description = j["description"].get<std::string>();
  }
  for (const char* part : {"key", "value"}) {
    if (!j.contains(part) || !j[part].is_object()) fail(origin, std::string("missing object field '") + part + "'");
    const json& p = j[part];
    const std::string where = std::string(part) + ".";
    if (!p.contains("codec") || !p["codec"].is_string()) fail(origin, "missing string field '" + where + "codec'");
    const std::string codec = p["codec"].get<std::string>();
    const bool is_key = std::string(part) == "key";
    if (codec == "fp16") {
      only_keys(p, {"codec"}, origin, where);
    } else if (codec == "coord-lloyd") {
      only_keys(p, {"codec", "bits"}, origin, where);
      const int b = get_int(p, "bits", 1, 8, origin, where);
      if (is_key) { t.key_kind = kernels::KeyKind::kCoord; t.key_bits = b; }
      else { t.value_kind = kernels::ValueKind::kCoord; t.value_bits = b; }
    } else if (codec == "block-vq" && is_key) {
      only_keys(p, {"codec", "dim", "bits"}, origin, where);
      t.key_block_dim = get_int(p, "dim", 2, 8, origin, where);
      if (t.key_block_dim != 2 && t.key_block_dim != 4 && t.key_block_dim != 8)
        fail(origin, "'key.dim' must be 2, 4 or 8 (coordinates per block), got " + std::to_string(t.key_block_dim));
      t.key_bits = get_int(p, "bits", t.key_block_dim, t.key_block_dim + 10, origin, where);
    } else if (codec == "pair-polar" && is_key) {
      only_keys(p, {"codec", "angle_bits", "radius_bits"}, origin, where);
      t.key_kind = kernels::KeyKind::kPair;
      t.key_bits = get_int(p, "angle_bits", 1, 8, origin, where);
      t.key_radius_bits = get_int(p, "radius_bits", 0, 8 - t.key_bits, origin, where);
    } else {
      fail(origin, "'" + where + "codec' is '" + codec + "'; " +
                       (is_key ? "keys take fp16, coord-lloyd, pair-polar or block-vq" : "values take fp16 or coord-lloyd") +
                       " (tree-polar is CPU-only: codec-eval, not a tier)");
    }
  }
  if (j.contains("page_mean")) {
    if (!j["page_mean"].is_boolean()) fail(origin, "'page_mean' must be true or false");
    t.page_mean = j["page_mean"].get<bool>();
  }
  if (j.contains("page_tokens")) t.page_tokens = get_int(j, "page_tokens", 1, 256, origin, "");
  if (j.contains("codebook")) {
    const json& c = j["codebook"];
    if (!c.is_string() || (c != "nested" && c != "lloyd"))
      fail(origin, "'codebook' must be \"nested\" (demotable by dropping bits) or \"lloyd\" (unconstrained), got " + c.dump());
    t.nested = c == "nested";
  }
  if (t.key_kind == kernels::KeyKind::kFp16 && !t.cpu_only()) t.page_mean = false;  // the layout ignores it for fp16 keys
  for (int d : {64, 128}) {
    if (t.cpu_only()) {
      kernels::TierLayout values = t.value_layout(d);  // validates the value part and page_tokens
      (void)values;
    } else {
      kernels::TierLayout l = t.layout(d);
      (void)l;
    }
  }
  return t;
}

TierFormat load_tier_format(const std::filesystem::path& file) {
  TierFormat t = parse_tier_format(read_json(file, "tier format"), file.filename().string());
  if (t.name != file.stem().string())
    fail(file.filename().string(), "'name' is '" + t.name + "' but the file is " + file.filename().string() +
                                       "; they must agree so tier sets can name it");
  return t;
}

json tier_format_to_json(const TierFormat& t) {
  auto key_part = [&](auto part) {
    if (t.cpu_only()) return json{{"codec", "block-vq"}, {"dim", t.key_block_dim}, {"bits", t.key_bits}};
    return part(t.key_kind != kernels::KeyKind::kFp16, t.key_kind == kernels::KeyKind::kPair, t.key_bits,
                t.key_radius_bits);
  };
  auto part = [](bool coded, bool pair, int bits, int rbits) {
    if (!coded) return json{{"codec", "fp16"}};
    if (pair) return json{{"codec", "pair-polar"}, {"angle_bits", bits}, {"radius_bits", rbits}};
    return json{{"codec", "coord-lloyd"}, {"bits", bits}};
  };
  return json{{"name", t.name},
              {"description", t.description},
              {"key", key_part(part)},
              {"value", part(t.value_kind != kernels::ValueKind::kFp16, false, t.value_bits, 0)},
              {"page_mean", t.page_mean},
              {"page_tokens", t.page_tokens},
              {"codebook", t.nested ? "nested" : "lloyd"}};
}

TierSet load_tier_set(const std::filesystem::path& file) {
  const json j = read_json(file, "tier set");
  const std::string origin = "tier set " + file.filename().string();
  if (!j.is_object()) throw Error(origin + ": the top level must be a JSON object");
  for (auto it = j.begin(); it != j.end(); ++it)
    if (it.key() != "name" && it.key() != "tiers" && it.key() != "allow_drop" && it.key() != "description")
      throw Error(origin + ": unknown field '" + it.key() + "' (allowed: name, description, tiers, allow_drop)");
  if (!j.contains("tiers") || !j["tiers"].is_array() || j["tiers"].empty())
    throw Error(origin + ": 'tiers' must be a non-empty array of tier names, best first");
  TierSet s;
  s.name = j.value("name", file.stem().string());
  if (j.contains("allow_drop")) {
    if (!j["allow_drop"].is_boolean()) throw Error(origin + ": 'allow_drop' must be true or false");
    s.allow_drop = j["allow_drop"].get<bool>();
  }
  std::set<std::string> seen;
  for (const json& n : j["tiers"]) {
    if (!n.is_string()) throw Error(origin + ": every entry of 'tiers' must be a tier name string, got " + n.dump());
    const std::string name = n.get<std::string>();
    if (!seen.insert(name).second) throw Error(origin + ": tier '" + name + "' is listed twice");
    const auto path = file.parent_path() / (name + ".json");
    if (!std::filesystem::exists(path))
      throw Error(origin + ": tier '" + name + "' has no file " + path.filename().string() + " beside the set");
    s.tiers.push_back(load_tier_format(path));
  }
  if (int(s.tiers.size()) > kernels::kMaxTiers)
    throw Error(origin + ": at most " + std::to_string(kernels::kMaxTiers) + " tiers (kernels::kMaxTiers)");
  return s;
}

std::filesystem::path default_tiers_dir() {
#ifdef SKV_ASSETS_DIR
  return std::filesystem::path(SKV_ASSETS_DIR) / "tiers";
#else
  return "assets/tiers";
#endif
}

}  // namespace skv::codecs
