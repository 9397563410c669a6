#pragma once
// GGUF v2/v3 reader (https://github.com/ggml-org/ggml/blob/master/docs/gguf.md).
// Validates every count, length and offset against the file size before trusting it (the
// llama.cpp gguf.cpp habit); tensor data is memory-mapped, never copied until dequantized.
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "core/model/ggml_types.h"

namespace skv {

// One metadata value. Arrays hold values of one type; nested arrays are allowed by the spec.
struct GgufValue;
using GgufArray = std::vector<GgufValue>;
struct GgufValue {
  GgufValueType type = GgufValueType::UINT8;
  std::variant<uint64_t, int64_t, double, bool, std::string, GgufArray> value;

  // Typed accessors; throw skv::Error naming the expected and actual type.
  int64_t as_int() const;           // any integer type (range-checked)
  double as_double() const;         // any numeric type
  bool as_bool() const;
  const std::string& as_string() const;
  const GgufArray& as_array() const;
  std::vector<std::string> as_string_array() const;
  std::vector<int64_t> as_int_array() const;
  std::vector<double> as_double_array() const;
};

struct GgufTensorInfo {
  std::string name;
  std::vector<uint64_t> ne;  // ggml order: ne[0] is the fastest-varying (row length)
  GgmlType type = GgmlType::F32;
  uint64_t offset = 0;       // relative to the start of the data section
  uint64_t nbytes = 0;       // computed from ne and type
  uint64_t numel() const;
  // PyTorch-order shape (reversed ne), e.g. a [out, in] linear weight.
  std::vector<int64_t> torch_shape() const;
};

class GgufFile {
 public:
  // Throws skv::Error("<path>: <reason>") for missing, truncated or corrupt files.
  static std::unique_ptr<GgufFile> open(const std::string& path);
  // Parses a copy of `size` bytes held in memory (fuzzing, tests); `name` stands in for the path
  // in messages.
  static std::unique_ptr<GgufFile> open_memory(const void* data, size_t size,
                                               const std::string& name);
  ~GgufFile();
  GgufFile(const GgufFile&) = delete;
  GgufFile& operator=(const GgufFile&) = delete;

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t file_size() const { return size_; }

  const std::map<std::string, GgufValue>& metadata() const { return metadata_; }
  bool has(const std::string& key) const { return metadata_.count(key) != 0; }
  const GgufValue& get(const std::string& key) const;  // throws if missing

  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  const GgufTensorInfo* find_tensor(const std::string& name) const;
  const uint8_t* tensor_data(const GgufTensorInfo& t) const;  // into the mapping
  uint64_t data_offset() const { return data_offset_; }        // file offset of the data section
  // Dequantized to float32 in ggml element order (row-major in torch_shape()).
  std::vector<float> dequantize(const GgufTensorInfo& t) const;

 private:
  GgufFile() = default;
  void parse();  // fills everything from map_/size_; throws skv::Error("<path>: ...")
  std::string path_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t size_ = 0;
  const uint8_t* map_ = nullptr;
  bool mmapped_ = false;        // map_ is an mmap of size_ bytes (else it points into owned_)
  std::vector<uint8_t> owned_;  // open_memory's copy
  uint64_t data_offset_ = 0;
  std::map<std::string, GgufValue> metadata_;
  std::vector<GgufTensorInfo> tensors_;
};

}  // namespace skv
