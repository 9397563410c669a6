#include "core/sessions/npy.h"

#include <algorithm>
#include <cctype>
#include <cmath>

#include "core/common/error.h"
#include "core/sessions/atomic_file.h"

namespace skv {
namespace {

constexpr char kMagic[] = "\x93NUMPY";

struct TypeRow {
  NpyType type;
  const char* descr;
  const char* name;
  std::size_t size;
};
constexpr TypeRow kTypes[] = {
    {NpyType::f32, "<f4", "float32", 4}, {NpyType::f64, "<f8", "float64", 8}, {NpyType::i32, "<i4", "int32", 4},
    {NpyType::i64, "<i8", "int64", 8},   {NpyType::u8, "|u1", "uint8", 1},
};
const TypeRow& row_of(NpyType t) {
  for (const auto& r : kTypes)
    if (r.type == t) return r;
  throw Error("unknown NPY element type");
}

// The header is a Python dict literal; numpy writes exactly three keys. This reads those three
// and nothing more: a string ('descr'), a bool ('fortran_order') and a tuple of ints ('shape').
struct DictReader {
  const std::string& s;
  std::size_t i = 0;
  const std::string& what;
  [[noreturn]] void fail(const std::string& why) const {
    throw Error(what + ": not a valid .npy header (" + why + ")");
  }
  void ws() {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n')) ++i;
  }
  bool eat(char c) {
    ws();
    if (i < s.size() && s[i] == c) {
      ++i;
      return true;
    }
    return false;
  }
  void expect(char c) {
    if (!eat(c)) fail(std::string("expected '") + c + "'");
  }
  std::string str() {
    ws();
    if (i >= s.size() || (s[i] != '\'' && s[i] != '"')) fail("expected a string");
    char q = s[i++];
    std::size_t j = s.find(q, i);
    if (j == std::string::npos) fail("unterminated string");
    std::string out = s.substr(i, j - i);
    i = j + 1;
    return out;
  }
  std::string word() {
    ws();
    std::size_t j = i;
    while (j < s.size() && std::isalnum(static_cast<unsigned char>(s[j]))) ++j;
    std::string out = s.substr(i, j - i);
    i = j;
    return out;
  }
};

}  // namespace

const char* npy_descr(NpyType t) { return row_of(t).descr; }
std::size_t npy_item_size(NpyType t) { return row_of(t).size; }
const char* npy_type_name(NpyType t) { return row_of(t).name; }
NpyType npy_type_from_name(const std::string& name) {
  for (const auto& r : kTypes)
    if (name == r.name) return r.type;
  throw Error("unknown array type '" + name + "' (expected float32, float64, int32, int64 or uint8)");
}

int64_t NpyArray::numel() const {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

int64_t NpyArray::row_numel() const {
  int64_t n = 1;
  for (std::size_t k = 1; k < shape.size(); ++k) n *= shape[k];
  return n;
}

void NpyArray::check_type(NpyType t) const {
  if (t != type)
    throw Error(std::string("array holds ") + npy_type_name(type) + ", not " + npy_type_name(t));
}

void NpyArray::check_size() const {
  for (auto d : shape)
    if (d < 0) throw Error("array shape has a negative dimension");
  if (static_cast<uint64_t>(numel()) * npy_item_size(type) != bytes.size())
    throw Error("array data size does not match its shape");
}

std::vector<double> NpyArray::to_double() const {
  const int64_t n = numel();
  std::vector<double> out(static_cast<std::size_t>(n));
  const uint8_t* p = bytes.data();
  for (int64_t k = 0; k < n; ++k) {
    switch (type) {
      case NpyType::f32: { float v; std::memcpy(&v, p + 4 * k, 4); out[k] = v; break; }
      case NpyType::f64: { double v; std::memcpy(&v, p + 8 * k, 8); out[k] = v; break; }
      case NpyType::i32: { int32_t v; std::memcpy(&v, p + 4 * k, 4); out[k] = static_cast<double>(v); break; }
      case NpyType::i64: { int64_t v; std::memcpy(&v, p + 8 * k, 8); out[k] = static_cast<double>(v); break; }
      case NpyType::u8: out[k] = p[k]; break;
    }
  }
  return out;
}

void NpyArray::append_rows(const NpyArray& other) {
  if (other.type != type) throw Error("cannot append rows of a different element type");
  if (shape.empty() || other.shape.size() != shape.size() ||
      !std::equal(shape.begin() + 1, shape.end(), other.shape.begin() + 1))
    throw Error("cannot append rows of a different shape");
  shape[0] += other.shape[0];
  bytes.insert(bytes.end(), other.bytes.begin(), other.bytes.end());
}

void NpyArray::truncate_rows(int64_t n) {
  if (shape.empty() || n >= shape[0]) return;
  shape[0] = n;
  bytes.resize(static_cast<std::size_t>(numel()) * npy_item_size(type));
}

std::vector<uint8_t> npy_encode(const NpyArray& a) {
  a.check_size();
  std::string shape = "(";
  for (std::size_t k = 0; k < a.shape.size(); ++k) shape += std::to_string(a.shape[k]) + (a.shape.size() == 1 || k + 1 < a.shape.size() ? "," : "");
  // numpy spells a 2-D shape "(3, 4)"; both parse the same.
  shape += ")";
  std::string header = std::string("{'descr': '") + npy_descr(a.type) + "', 'fortran_order': False, 'shape': " + shape + ", }";
  // magic(6) + version(2) + header_len(2) + header + '\n', padded to a multiple of 64.
  std::size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  if (header.size() > 65535) throw Error("array has too many dimensions for an NPY v1.0 header");
  std::vector<uint8_t> out(10 + header.size() + a.bytes.size());
  std::memcpy(out.data(), kMagic, 6);
  out[6] = 1;  // version 1.0
  out[7] = 0;
  out[8] = static_cast<uint8_t>(header.size() & 0xff);
  out[9] = static_cast<uint8_t>(header.size() >> 8);
  std::memcpy(out.data() + 10, header.data(), header.size());
  if (!a.bytes.empty()) std::memcpy(out.data() + 10 + header.size(), a.bytes.data(), a.bytes.size());
  return out;
}

NpyHeader npy_parse_header(const uint8_t* data, std::size_t size, const std::string& what) {
  if (size < 10 || std::memcmp(data, kMagic, 6) != 0) throw Error(what + ": not an .npy file (bad magic or truncated)");
  const int major = data[6];
  std::size_t hlen = 0, hstart = 0;
  if (major == 1) {
    hlen = data[8] | (data[9] << 8);
    hstart = 10;
  } else if (major == 2 || major == 3) {
    if (size < 12) throw Error(what + ": truncated .npy header");
    hlen = data[8] | (data[9] << 8) | (data[10] << 16) | (static_cast<std::size_t>(data[11]) << 24);
    hstart = 12;
  } else {
    throw Error(what + ": .npy version " + std::to_string(major) + "." + std::to_string(data[7]) +
                " is not supported (1.0, 2.0, 3.0 are)");
  }
  if (hstart + hlen > size) throw Error(what + ": truncated .npy header");
  const std::string header(reinterpret_cast<const char*>(data + hstart), hlen);
  DictReader r{header, 0, what};
  NpyHeader h;
  h.data_offset = hstart + hlen;
  bool have_descr = false, have_order = false, have_shape = false;
  r.expect('{');
  while (!r.eat('}')) {
    std::string key = r.str();
    r.expect(':');
    if (key == "descr") {
      std::string d = r.str();
      bool found = false;
      for (const auto& t : kTypes)
        if (d == t.descr || (t.type == NpyType::u8 && d == "<u1")) {
          h.type = t.type;
          found = true;
        }
      if (!found) throw Error(what + ": element type '" + d + "' is not supported (<f4 <f8 <i4 <i8 |u1)");
      have_descr = true;
    } else if (key == "fortran_order") {
      std::string w = r.word();
      if (w == "True") throw Error(what + ": Fortran-order arrays are not supported");
      if (w != "False") r.fail("fortran_order is not a bool");
      have_order = true;
    } else if (key == "shape") {
      r.expect('(');
      while (!r.eat(')')) {
        std::string w = r.word();
        if (w.empty() || !std::all_of(w.begin(), w.end(), ::isdigit)) r.fail("shape holds a non-integer");
        h.shape.push_back(std::stoll(w));
        r.eat(',');
      }
      have_shape = true;
    } else {
      r.fail("unknown key '" + key + "'");
    }
    r.eat(',');
  }
  if (!have_descr || !have_order || !have_shape) r.fail("missing descr, fortran_order or shape");
  return h;
}

NpyArray npy_decode(const std::vector<uint8_t>& file, const std::string& what) {
  NpyHeader h = npy_parse_header(file.data(), file.size(), what);
  NpyArray a;
  a.type = h.type;
  a.shape = h.shape;
  const uint64_t want = static_cast<uint64_t>(a.numel()) * npy_item_size(a.type);
  const uint64_t have = file.size() - h.data_offset;
  if (have < want)
    throw Error(what + ": truncated (" + std::to_string(have) + " data bytes, shape needs " + std::to_string(want) + ")");
  if (have > want) throw Error(what + ": " + std::to_string(have - want) + " bytes after the array data");
  a.bytes.assign(file.begin() + static_cast<std::ptrdiff_t>(h.data_offset), file.end());
  return a;
}

void npy_save(const std::filesystem::path& path, const NpyArray& a) { write_file_atomic(path, npy_encode(a)); }

NpyArray npy_load(const std::filesystem::path& path) { return npy_decode(read_file_bytes(path), path.string()); }

}  // namespace skv
