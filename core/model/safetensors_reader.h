#pragma once
// safetensors reader (https://github.com/huggingface/safetensors): an 8-byte little-endian header
// length N, N bytes of JSON {"name": {"dtype", "shape", "data_offsets": [begin, end]}, ...,
// "__metadata__": {...}}, then the data. Offsets are relative to the end of the header, and are
// checked (in range, size = numel * dtype size, no overlaps) before the data is trusted.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace skv {

struct SafetensorsTensorInfo {
  std::string name;
  std::string dtype;           // "F32", "F16", "BF16", "I64", ...
  std::vector<int64_t> shape;  // PyTorch order
  uint64_t begin = 0, end = 0; // byte range within the data section
  uint64_t numel() const;
};

class SafetensorsFile {
 public:
  // Throws skv::Error("<path>: <reason>").
  static std::unique_ptr<SafetensorsFile> open(const std::string& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  const std::map<std::string, SafetensorsTensorInfo>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const SafetensorsTensorInfo* find(const std::string& name) const;
  const uint8_t* data(const SafetensorsTensorInfo& t) const { return map_ + data_offset_ + t.begin; }
  // F32, F16 or BF16 converted to float32; other dtypes throw skv::Error.
  std::vector<float> to_float(const SafetensorsTensorInfo& t) const;
  // FNV-1a over the header plus 64 evenly spaced 4 KiB samples of the data: a cheap content
  // identity for multi-GB files.
  uint64_t sampled_hash() const;

 private:
  SafetensorsFile() = default;
  std::string path_;
  const uint8_t* map_ = nullptr;
  uint64_t size_ = 0;
  uint64_t data_offset_ = 0;
  std::map<std::string, SafetensorsTensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
};

// Bytes per element of a safetensors dtype name, 0 if unknown.
uint64_t safetensors_dtype_size(const std::string& dtype);

}  // namespace skv
