#pragma once
// NPY v1.0 arrays (numpy.lib.format), little-endian, C order: what numpy.load reads directly.
// Five element types are enough for sessions: float32/float64 series and maps, int32 token ids,
// int64 counts and timestamps, uint8 tier codes and text bytes.
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>
#include <type_traits>
#include <vector>

namespace skv {

enum class NpyType : uint8_t { f32, f64, i32, i64, u8 };

const char* npy_descr(NpyType t);       // "<f4", "<f8", "<i4", "<i8", "|u1"
std::size_t npy_item_size(NpyType t);   // bytes per element
const char* npy_type_name(NpyType t);   // "float32", ... (manifest spelling)
NpyType npy_type_from_name(const std::string& name);  // throws skv::Error on an unknown name

template <typename T>
constexpr NpyType npy_type_of() {
  if constexpr (std::is_same_v<T, float>) return NpyType::f32;
  else if constexpr (std::is_same_v<T, double>) return NpyType::f64;
  else if constexpr (std::is_same_v<T, int32_t>) return NpyType::i32;
  else if constexpr (std::is_same_v<T, int64_t>) return NpyType::i64;
  else {
    static_assert(std::is_same_v<T, uint8_t>, "NPY arrays hold float, double, int32_t, int64_t or uint8_t");
    return NpyType::u8;
  }
}

// A dense array: shape (row-major, C order) and its raw little-endian bytes.
struct NpyArray {
  NpyType type = NpyType::f64;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;

  int64_t numel() const;
  int64_t rows() const { return shape.empty() ? 1 : shape[0]; }
  // Elements of one leading-dimension row (1 for a 1-D array).
  int64_t row_numel() const;

  template <typename T>
  static NpyArray from(const std::vector<T>& values, std::vector<int64_t> shape = {}) {
    NpyArray a;
    a.type = npy_type_of<T>();
    a.shape = shape.empty() ? std::vector<int64_t>{static_cast<int64_t>(values.size())} : std::move(shape);
    a.bytes.resize(values.size() * sizeof(T));
    if (!values.empty()) std::memcpy(a.bytes.data(), values.data(), a.bytes.size());
    a.check_size();
    return a;
  }
  // Copies out as T; throws skv::Error if T is not the stored type.
  template <typename T>
  std::vector<T> as() const {
    check_type(npy_type_of<T>());
    std::vector<T> out(bytes.size() / sizeof(T));
    if (!out.empty()) std::memcpy(out.data(), bytes.data(), bytes.size());
    return out;
  }
  // Any numeric type widened to double (for plots and tables).
  std::vector<double> to_double() const;
  // Appends the rows of `other` (same type and trailing shape) along the leading dimension.
  void append_rows(const NpyArray& other);
  // Keeps the first n rows.
  void truncate_rows(int64_t n);
  void check_type(NpyType t) const;  // throws skv::Error
  void check_size() const;           // bytes == numel * item size, else skv::Error

  bool operator==(const NpyArray& o) const { return type == o.type && shape == o.shape && bytes == o.bytes; }
};

// The file's bytes: magic, version 1.0, header dict padded so the data starts on a 64-byte
// boundary, then the data.
std::vector<uint8_t> npy_encode(const NpyArray& a);
// Parses a whole .npy file image; `what` names it in errors ("series/kl.npy: ...").
NpyArray npy_decode(const std::vector<uint8_t>& file, const std::string& what);

// Header only (type and shape), for listing without reading the data.
struct NpyHeader {
  NpyType type = NpyType::f64;
  std::vector<int64_t> shape;
  std::size_t data_offset = 0;
};
NpyHeader npy_parse_header(const uint8_t* data, std::size_t size, const std::string& what);

void npy_save(const std::filesystem::path& path, const NpyArray& a);  // crash-safe (atomic_file.h)
NpyArray npy_load(const std::filesystem::path& path);                 // errors name the file

}  // namespace skv
