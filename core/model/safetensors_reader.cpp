#include "core/model/safetensors_reader.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>

#include <nlohmann/json.hpp>

#include "core/common/error.h"
#include "core/model/ggml_types.h"

namespace skv {
namespace {
// The reference implementation refuses headers over 100 MB; so do we.
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;
}  // namespace

uint64_t SafetensorsTensorInfo::numel() const {
  uint64_t n = 1;
  for (auto s : shape) n *= static_cast<uint64_t>(s);  // overflow ruled out by open()
  return n;
}

uint64_t safetensors_dtype_size(const std::string& d) {
  if (d == "F64" || d == "I64" || d == "U64") return 8;
  if (d == "F32" || d == "I32" || d == "U32") return 4;
  if (d == "F16" || d == "BF16" || d == "I16" || d == "U16") return 2;
  if (d == "I8" || d == "U8" || d == "BOOL" || d == "F8_E4M3" || d == "F8_E5M2") return 1;
  return 0;
}

std::unique_ptr<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  std::unique_ptr<SafetensorsFile> f(new SafetensorsFile());
  f->path_ = path;
  auto fail = [&](const std::string& why) -> Error { return Error(path + ": " + why); };
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    throw fail(std::string("cannot open safetensors file (") + std::strerror(err) + ")");
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw fail("not a regular file");
  }
  f->size_ = static_cast<uint64_t>(st.st_size);
  if (f->size_ < 8) {
    ::close(fd);
    throw fail("file is truncated: " + std::to_string(f->size_) + " bytes, a safetensors file starts with an 8-byte header length");
  }
  void* m = ::mmap(nullptr, f->size_, PROT_READ, MAP_PRIVATE, fd, 0);
  const int err = errno;
  ::close(fd);
  if (m == MAP_FAILED) throw fail(std::string("cannot memory-map the file (") + std::strerror(err) + ")");
  f->map_ = static_cast<const uint8_t*>(m);

  uint64_t n = 0;
  std::memcpy(&n, f->map_, 8);
  if (n > kMaxHeaderBytes) throw fail("header length " + std::to_string(n) + " is absurd (corrupt file?)");
  if (n > f->size_ - 8) {
    throw fail("file is truncated: header claims " + std::to_string(n) + " bytes but only " +
               std::to_string(f->size_ - 8) + " follow");
  }
  f->data_offset_ = 8 + n;
  const uint64_t data_size = f->size_ - f->data_offset_;
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(f->map_ + 8, f->map_ + 8 + n);
  } catch (const nlohmann::json::exception& e) {
    throw fail(std::string("header is not valid JSON (") + e.what() + ")");
  }
  if (!header.is_object()) throw fail("header is not a JSON object");

  std::vector<const SafetensorsTensorInfo*> by_offset;
  for (const auto& [name, v] : header.items()) {
    if (name == "__metadata__") {
      if (v.is_object()) {
        for (const auto& [k, mv] : v.items()) {
          if (mv.is_string()) f->metadata_[k] = mv.get<std::string>();
        }
      }
      continue;
    }
    if (!v.is_object() || !v.contains("dtype") || !v["dtype"].is_string() || !v.contains("shape") ||
        !v["shape"].is_array() || !v.contains("data_offsets") || !v["data_offsets"].is_array() ||
        v["data_offsets"].size() != 2) {
      throw fail("tensor " + name + ": header entry needs dtype, shape and data_offsets [begin, end]");
    }
    SafetensorsTensorInfo t;
    t.name = name;
    t.dtype = v["dtype"].get<std::string>();
    const uint64_t esize = safetensors_dtype_size(t.dtype);
    if (esize == 0) throw fail("tensor " + name + " has unknown dtype " + t.dtype);
    uint64_t numel = 1;
    for (const auto& d : v["shape"]) {
      if (!d.is_number_unsigned() && !(d.is_number_integer() && d.get<int64_t>() >= 0)) {
        throw fail("tensor " + name + " has a bad shape " + v["shape"].dump());
      }
      const uint64_t s = d.get<uint64_t>();
      if (s > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
          (s != 0 && numel > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) / s)) {
        throw fail("tensor " + name + " has an absurd shape " + v["shape"].dump());
      }
      numel *= s;
      t.shape.push_back(static_cast<int64_t>(s));
    }
    const auto& off = v["data_offsets"];
    if (!off[0].is_number_unsigned() || !off[1].is_number_unsigned()) {
      throw fail("tensor " + name + " has bad data_offsets " + off.dump());
    }
    t.begin = off[0].get<uint64_t>();
    t.end = off[1].get<uint64_t>();
    if (t.end < t.begin || t.end > data_size) {
      throw fail("file is truncated or corrupt: tensor " + name + " data [" + std::to_string(t.begin) +
                 ", " + std::to_string(t.end) + ") lies outside the " + std::to_string(data_size) +
                 "-byte data section");
    }
    if (numel > std::numeric_limits<uint64_t>::max() / esize || t.end - t.begin != numel * esize) {
      throw fail("tensor " + name + " has " + std::to_string(t.end - t.begin) + " bytes of data but its " +
                 t.dtype + " shape " + v["shape"].dump() + " needs " + std::to_string(numel * esize));
    }
    f->tensors_.emplace(name, std::move(t));
  }
  for (const auto& [name, t] : f->tensors_) by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(),
            [](auto* a, auto* b) { return a->begin < b->begin; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    if (by_offset[i]->begin < by_offset[i - 1]->end) {
      throw fail("tensors " + by_offset[i - 1]->name + " and " + by_offset[i]->name + " overlap");
    }
  }
  return f;
}

SafetensorsFile::~SafetensorsFile() {
  if (map_ != nullptr) ::munmap(const_cast<uint8_t*>(map_), size_);
}

const SafetensorsTensorInfo* SafetensorsFile::find(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

uint64_t SafetensorsFile::sampled_hash() const {
  uint64_t h = 1469598103934665603ull;
  auto mix = [&h](const uint8_t* p, uint64_t n) {
    for (uint64_t i = 0; i < n; ++i) {
      h ^= p[i];
      h *= 1099511628211ull;
    }
  };
  mix(map_, data_offset_);
  const uint64_t data_size = size_ - data_offset_;
  constexpr uint64_t kSamples = 64, kChunk = 4096;
  for (uint64_t s = 0; s < kSamples && data_size > 0; ++s) {
    const uint64_t at = data_size * s / kSamples;
    mix(map_ + data_offset_ + at, std::min(kChunk, data_size - at));
  }
  return h;
}

std::vector<float> SafetensorsFile::to_float(const SafetensorsTensorInfo& t) const {
  if (t.dtype != "F32" && t.dtype != "F16" && t.dtype != "BF16") {
    throw Error(path_ + ": tensor " + t.name + " has dtype " + t.dtype +
                ", skv reads F32, F16 and BF16 weights");
  }
  const uint64_t n = t.numel();
  std::vector<float> out(n);
  if (n == 0) return out;  // (an empty vector's data() may be null: no memcpy)
  const uint8_t* p = data(t);
  if (t.dtype == "F32") {
    std::memcpy(out.data(), p, n * 4);
  } else {
    const bool bf = t.dtype == "BF16";
    for (uint64_t i = 0; i < n; ++i) {
      const uint16_t h = static_cast<uint16_t>(p[2 * i] | (p[2 * i + 1] << 8));
      out[i] = bf ? ggml_bf16_to_fp32(h) : ggml_fp16_to_fp32(h);
    }
  }
  return out;
}

}  // namespace skv
