// GGUF reader. Every count, length and offset read from the file is checked against the bytes
// that remain before it is used to allocate, index or loop (the habit of llama.cpp's gguf.cpp),
// so a truncated, corrupt or hostile file ends in skv::Error("<path>: <reason>"), never a crash
// or a huge allocation.
#include "core/model/gguf_reader.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>

#include "core/common/error.h"

namespace skv {
namespace {

constexpr uint64_t kMaxNestingDepth = 16;             // arrays of arrays of ...
constexpr uint64_t kMaxArrayElementsTotal = 1ull << 24;  // 16M: real files hold < 1M
constexpr uint32_t kMaxDims = 4;                      // GGML_MAX_DIMS

std::string value_type_name(GgufValueType t) { return gguf_value_type_name(static_cast<uint32_t>(t)); }

// Bytes of one fixed-size value, 0 for STRING/ARRAY/unknown.
uint64_t fixed_size(uint32_t type) {
  switch (static_cast<GgufValueType>(type)) {
    case GgufValueType::UINT8: case GgufValueType::INT8: case GgufValueType::BOOL: return 1;
    case GgufValueType::UINT16: case GgufValueType::INT16: return 2;
    case GgufValueType::UINT32: case GgufValueType::INT32: case GgufValueType::FLOAT32: return 4;
    case GgufValueType::UINT64: case GgufValueType::INT64: case GgufValueType::FLOAT64: return 8;
    default: return 0;
  }
}

// The fewest bytes a value of this type can take in a file (a bound for counts).
uint64_t min_size(uint32_t type) {
  if (type == static_cast<uint32_t>(GgufValueType::STRING)) return 8;  // length
  if (type == static_cast<uint32_t>(GgufValueType::ARRAY)) return 12;  // type + count
  return fixed_size(type);
}

class Cursor {
 public:
  Cursor(const std::string& path, const uint8_t* data, uint64_t size)
      : path_(path), data_(data), size_(size) {}

  uint64_t pos() const { return pos_; }
  uint64_t remaining() const { return size_ - pos_; }

  [[noreturn]] void fail(const std::string& why) const { throw Error(path_ + ": " + why); }

  void need(uint64_t n, const char* what) const {
    if (n > remaining()) {
      fail("file is truncated: " + std::string(what) + " at byte " + std::to_string(pos_) +
           " needs " + std::to_string(n) + " bytes but only " + std::to_string(remaining()) +
           " remain");
    }
  }
  template <typename T>
  T read(const char* what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, data_ + pos_, sizeof(T));  // GGUF is little-endian, like our targets
    pos_ += sizeof(T);
    return v;
  }
  std::string read_string(const char* what) {
    const uint64_t len = read<uint64_t>(what);
    need(len, what);
    std::string s(reinterpret_cast<const char*>(data_ + pos_), len);
    pos_ += len;
    return s;
  }

  GgufValue read_value(uint32_t type, const std::string& key, uint64_t depth) {
    GgufValue v;
    v.type = static_cast<GgufValueType>(type);
    switch (v.type) {
      case GgufValueType::UINT8: v.value = uint64_t{read<uint8_t>("a UINT8 value")}; break;
      case GgufValueType::UINT16: v.value = uint64_t{read<uint16_t>("a UINT16 value")}; break;
      case GgufValueType::UINT32: v.value = uint64_t{read<uint32_t>("a UINT32 value")}; break;
      case GgufValueType::UINT64: v.value = read<uint64_t>("a UINT64 value"); break;
      case GgufValueType::INT8: v.value = int64_t{read<int8_t>("an INT8 value")}; break;
      case GgufValueType::INT16: v.value = int64_t{read<int16_t>("an INT16 value")}; break;
      case GgufValueType::INT32: v.value = int64_t{read<int32_t>("an INT32 value")}; break;
      case GgufValueType::INT64: v.value = read<int64_t>("an INT64 value"); break;
      case GgufValueType::FLOAT32: v.value = double{read<float>("a FLOAT32 value")}; break;
      case GgufValueType::FLOAT64: v.value = read<double>("a FLOAT64 value"); break;
      case GgufValueType::BOOL: v.value = read<uint8_t>("a BOOL value") != 0; break;
      case GgufValueType::STRING: v.value = read_string("a STRING value"); break;
      case GgufValueType::ARRAY: {
        if (depth >= kMaxNestingDepth) {
          fail("metadata key '" + key + "' nests arrays deeper than " +
               std::to_string(kMaxNestingDepth) + " levels");
        }
        const uint32_t elem_type = read<uint32_t>("an array element type");
        const uint64_t n = read<uint64_t>("an array length");
        const uint64_t elem_min = min_size(elem_type);
        if (elem_min == 0) {
          fail("metadata key '" + key + "' is an array of unknown value type " +
               std::to_string(elem_type));
        }
        if (n > remaining() / elem_min) {
          fail("metadata key '" + key + "' claims " + std::to_string(n) +
               " array elements but only " + std::to_string(remaining()) + " bytes remain");
        }
        array_elements_ += n;
        if (array_elements_ > kMaxArrayElementsTotal) {
          fail("metadata arrays hold more than " + std::to_string(kMaxArrayElementsTotal) +
               " elements in total (corrupt file?)");
        }
        GgufArray arr;
        arr.reserve(n);
        for (uint64_t i = 0; i < n; ++i) arr.push_back(read_value(elem_type, key, depth + 1));
        v.value = std::move(arr);
        break;
      }
      default:
        fail("metadata key '" + key + "' has unknown value type " + std::to_string(type));
    }
    return v;
  }

 private:
  const std::string& path_;
  const uint8_t* data_;
  uint64_t size_;
  uint64_t pos_ = 0;
  uint64_t array_elements_ = 0;
};

[[noreturn]] void type_error(GgufValueType actual, const char* expected) {
  throw Error("GGUF metadata value has type " + value_type_name(actual) + ", expected " +
              expected);
}

}  // namespace

// --- GgufValue ------------------------------------------------------------------------------

int64_t GgufValue::as_int() const {
  if (const auto* u = std::get_if<uint64_t>(&value)) {
    if (*u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      throw Error("GGUF metadata value " + std::to_string(*u) + " does not fit a signed 64-bit integer");
    }
    return static_cast<int64_t>(*u);
  }
  if (const auto* i = std::get_if<int64_t>(&value)) return *i;
  type_error(type, "an integer");
}

double GgufValue::as_double() const {
  if (const auto* u = std::get_if<uint64_t>(&value)) return static_cast<double>(*u);
  if (const auto* i = std::get_if<int64_t>(&value)) return static_cast<double>(*i);
  if (const auto* d = std::get_if<double>(&value)) return *d;
  type_error(type, "a number");
}

bool GgufValue::as_bool() const {
  if (const auto* b = std::get_if<bool>(&value)) return *b;
  type_error(type, "BOOL");
}

const std::string& GgufValue::as_string() const {
  if (const auto* s = std::get_if<std::string>(&value)) return *s;
  type_error(type, "STRING");
}

const GgufArray& GgufValue::as_array() const {
  if (const auto* a = std::get_if<GgufArray>(&value)) return *a;
  type_error(type, "ARRAY");
}

std::vector<std::string> GgufValue::as_string_array() const {
  std::vector<std::string> out;
  const auto& a = as_array();
  out.reserve(a.size());
  for (const auto& v : a) out.push_back(v.as_string());
  return out;
}

std::vector<int64_t> GgufValue::as_int_array() const {
  std::vector<int64_t> out;
  const auto& a = as_array();
  out.reserve(a.size());
  for (const auto& v : a) out.push_back(v.as_int());
  return out;
}

std::vector<double> GgufValue::as_double_array() const {
  std::vector<double> out;
  const auto& a = as_array();
  out.reserve(a.size());
  for (const auto& v : a) out.push_back(v.as_double());
  return out;
}

// --- GgufTensorInfo -------------------------------------------------------------------------

uint64_t GgufTensorInfo::numel() const {
  uint64_t n = 1;
  for (auto d : ne) n *= d;  // overflow ruled out when the file was parsed
  return n;
}

std::vector<int64_t> GgufTensorInfo::torch_shape() const {
  return std::vector<int64_t>(ne.rbegin(), ne.rend());
}

// --- GgufFile -------------------------------------------------------------------------------

std::unique_ptr<GgufFile> GgufFile::open(const std::string& path) {
  std::unique_ptr<GgufFile> f(new GgufFile());
  f->path_ = path;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    throw Error(path + ": cannot open GGUF file (" + std::strerror(err) + ")");
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error(path + ": not a regular file");
  }
  f->size_ = static_cast<uint64_t>(st.st_size);
  if (f->size_ == 0) {
    ::close(fd);
    throw Error(path + ": file is empty (not a GGUF file)");
  }
  void* m = ::mmap(nullptr, f->size_, PROT_READ, MAP_PRIVATE, fd, 0);
  const int err = errno;
  ::close(fd);  // the mapping keeps the file open
  if (m == MAP_FAILED) throw Error(path + ": cannot memory-map the file (" + std::strerror(err) + ")");
  f->map_ = static_cast<const uint8_t*>(m);
  f->mmapped_ = true;
  f->parse();
  return f;
}

std::unique_ptr<GgufFile> GgufFile::open_memory(const void* data, size_t size,
                                                const std::string& name) {
  std::unique_ptr<GgufFile> f(new GgufFile());
  f->path_ = name;
  const auto* p = static_cast<const uint8_t*>(data);
  f->owned_.assign(p, p + size);
  f->map_ = f->owned_.data();
  f->size_ = size;
  f->parse();
  return f;
}

GgufFile::~GgufFile() {
  if (mmapped_ && map_ != nullptr) ::munmap(const_cast<uint8_t*>(map_), size_);
}

void GgufFile::parse() {
  Cursor c(path_, map_, size_);
  c.need(4, "the GGUF magic");
  if (std::memcmp(map_, "GGUF", 4) != 0) c.fail("not a GGUF file (the first 4 bytes are not 'GGUF')");
  c.read<uint32_t>("the magic");
  version_ = c.read<uint32_t>("the version");
  if ((version_ & 0xFFFFu) == 0 && version_ != 0) {
    c.fail("big-endian GGUF files are not supported");
  }
  if (version_ == 1) c.fail("GGUF version 1 is obsolete and not supported; re-convert the model");
  if (version_ != 2 && version_ != 3) {
    c.fail("unsupported GGUF version " + std::to_string(version_) + " (skv reads versions 2 and 3)");
  }
  const uint64_t n_tensors = c.read<uint64_t>("the tensor count");
  const uint64_t n_kv = c.read<uint64_t>("the metadata count");
  // A key-value pair takes at least 8 (key length) + 4 (type) + 1 bytes; a tensor info at least
  // 8 (name length) + 4 (n_dims) + 8 (one dim) + 4 (type) + 8 (offset).
  if (n_kv > c.remaining() / 13) {
    c.fail("header claims " + std::to_string(n_kv) + " metadata entries, more than the " +
           std::to_string(c.remaining()) + " remaining bytes can hold");
  }
  if (n_tensors > c.remaining() / 32) {
    c.fail("header claims " + std::to_string(n_tensors) + " tensors, more than the " +
           std::to_string(c.remaining()) + " remaining bytes can hold");
  }

  for (uint64_t i = 0; i < n_kv; ++i) {
    std::string key = c.read_string("a metadata key");
    const uint32_t type = c.read<uint32_t>("a metadata value type");
    GgufValue v = c.read_value(type, key, 0);
    if (metadata_.count(key) != 0) c.fail("duplicate metadata key '" + key + "'");
    metadata_.emplace(std::move(key), std::move(v));
  }

  alignment_ = 32;  // GGUF_DEFAULT_ALIGNMENT
  if (auto it = metadata_.find("general.alignment"); it != metadata_.end()) {
    if (it->second.type != GgufValueType::UINT32) {
      c.fail("general.alignment has type " + value_type_name(it->second.type) + ", expected UINT32");
    }
    const uint64_t a = std::get<uint64_t>(it->second.value);
    if (a == 0 || (a & (a - 1)) != 0) {
      c.fail("general.alignment " + std::to_string(a) + " is not a power of two");
    }
    alignment_ = a;
  }

  tensors_.reserve(n_tensors);
  for (uint64_t i = 0; i < n_tensors; ++i) {
    GgufTensorInfo t;
    t.name = c.read_string("a tensor name");
    const uint32_t n_dims = c.read<uint32_t>("a tensor's dimension count");
    if (n_dims == 0 || n_dims > kMaxDims) {
      c.fail("tensor " + t.name + " has " + std::to_string(n_dims) + " dimensions (1 to " +
             std::to_string(kMaxDims) + " allowed)");
    }
    uint64_t numel = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      const uint64_t ne = c.read<uint64_t>("a tensor dimension");
      if (ne > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
          (ne != 0 && numel > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) / ne)) {
        c.fail("tensor " + t.name + " has an absurd shape (dimension " + std::to_string(d) +
               " = " + std::to_string(ne) + ")");
      }
      numel *= ne;
      t.ne.push_back(ne);
    }
    const uint32_t type = c.read<uint32_t>("a tensor type");
    if (!ggml_type_layout_known(type)) {
      c.fail("tensor " + t.name + " has ggml type " + std::to_string(type) + " (" +
             ggml_type_name(type) + ") which skv cannot dequantize; supported: " +
             ggml_supported_types_list());
    }
    t.type = static_cast<GgmlType>(type);
    t.offset = c.read<uint64_t>("a tensor data offset");
    const uint64_t be = ggml_block_elements(t.type);
    const uint64_t bb = ggml_block_bytes(t.type);
    if (t.ne[0] % be != 0) {
      c.fail("tensor " + t.name + " has row length " + std::to_string(t.ne[0]) +
             ", not a multiple of the " + ggml_type_name(type) + " block size " + std::to_string(be));
    }
    const uint64_t blocks = numel / be;
    if (blocks > std::numeric_limits<uint64_t>::max() / bb) c.fail("tensor " + t.name + " is absurdly large");
    t.nbytes = blocks * bb;
    if (t.offset % alignment_ != 0) {
      c.fail("tensor " + t.name + " data offset " + std::to_string(t.offset) +
             " is not a multiple of the alignment " + std::to_string(alignment_));
    }
    tensors_.push_back(std::move(t));
  }

  // The data section starts at the next multiple of the alignment.
  const uint64_t end_of_infos = c.pos();
  data_offset_ = end_of_infos + (alignment_ - end_of_infos % alignment_) % alignment_;
  if (!tensors_.empty() && data_offset_ > size_) {
    c.fail("file is truncated: the tensor data section would start at byte " +
           std::to_string(data_offset_) + " but the file has " + std::to_string(size_) + " bytes");
  }
  const uint64_t data_size = data_offset_ <= size_ ? size_ - data_offset_ : 0;

  std::vector<const GgufTensorInfo*> by_offset;
  by_offset.reserve(tensors_.size());
  for (const auto& t : tensors_) {
    if (t.offset > data_size || t.nbytes > data_size - t.offset) {
      c.fail("file is truncated or corrupt: tensor " + t.name + " data [" +
             std::to_string(t.offset) + ", " + std::to_string(t.offset + t.nbytes) +
             ") lies outside the " + std::to_string(data_size) + "-byte data section");
    }
    by_offset.push_back(&t);
  }
  std::sort(by_offset.begin(), by_offset.end(),
            [](const GgufTensorInfo* a, const GgufTensorInfo* b) { return a->offset < b->offset; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const auto* prev = by_offset[i - 1];
    if (by_offset[i]->offset < prev->offset + prev->nbytes) {
      c.fail("tensors " + prev->name + " and " + by_offset[i]->name + " overlap in the data section");
    }
  }
  std::vector<const std::string*> names;
  names.reserve(tensors_.size());
  for (const auto& t : tensors_) names.push_back(&t.name);
  std::sort(names.begin(), names.end(), [](auto* a, auto* b) { return *a < *b; });
  for (size_t i = 1; i < names.size(); ++i) {
    if (*names[i] == *names[i - 1]) c.fail("duplicate tensor name " + *names[i]);
  }
}

const GgufValue& GgufFile::get(const std::string& key) const {
  auto it = metadata_.find(key);
  if (it == metadata_.end()) throw Error(path_ + ": metadata key '" + key + "' is missing");
  return it->second;
}

const GgufTensorInfo* GgufFile::find_tensor(const std::string& name) const {
  for (const auto& t : tensors_) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

const uint8_t* GgufFile::tensor_data(const GgufTensorInfo& t) const {
  return map_ + data_offset_ + t.offset;  // in range: checked by parse()
}

std::vector<float> GgufFile::dequantize(const GgufTensorInfo& t) const {
  const uint32_t id = static_cast<uint32_t>(t.type);
  if (!ggml_type_supported(id)) {
    throw Error(path_ + ": tensor " + t.name + " has ggml type " + std::to_string(id) + " (" +
                ggml_type_name(id) + ") which skv cannot dequantize; supported: " +
                ggml_supported_types_list());
  }
  std::vector<float> out(t.numel());
  ggml_dequantize(t.type, tensor_data(t), out.data(), out.size());
  return out;
}

}  // namespace skv
