#pragma once
// A small GGUF writer for tests: metadata of every value type (nested arrays included) and
// tensors given as raw block bytes, laid out as the GGUF spec says (data section aligned,
// each tensor's data aligned). Independent of core/model's reader on purpose.
#include <cstdint>
#include <cstring>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

namespace skv::test {

class GgufTestWriter {
 public:
  struct Val {
    uint32_t type;
    std::string bytes;  // encoded payload, without the type id
  };
  template <typename T>
  static std::string raw(T v) {
    std::string s(sizeof(T), '\0');
    std::memcpy(s.data(), &v, sizeof(T));
    return s;
  }
  static Val u8(uint8_t v) { return {0, raw(v)}; }
  static Val i8(int8_t v) { return {1, raw(v)}; }
  static Val u16(uint16_t v) { return {2, raw(v)}; }
  static Val i16(int16_t v) { return {3, raw(v)}; }
  static Val u32(uint32_t v) { return {4, raw(v)}; }
  static Val i32(int32_t v) { return {5, raw(v)}; }
  static Val f32(float v) { return {6, raw(v)}; }
  static Val boolean(bool v) { return {7, raw(static_cast<uint8_t>(v ? 1 : 0))}; }
  static Val str(const std::string& s) { return {8, raw(static_cast<uint64_t>(s.size())) + s}; }
  static Val u64(uint64_t v) { return {10, raw(v)}; }
  static Val i64(int64_t v) { return {11, raw(v)}; }
  static Val f64(double v) { return {12, raw(v)}; }
  static Val array(uint32_t elem_type, const std::vector<Val>& elems) {
    std::string b = raw(elem_type) + raw(static_cast<uint64_t>(elems.size()));
    for (const auto& e : elems) b += e.bytes;
    return {9, b};
  }

  uint32_t version = 3;
  uint64_t alignment = 32;  // layout; add kv("general.alignment", u32(...)) to declare it

  void kv(const std::string& key, const Val& v) { kvs_.push_back({key, v}); }
  // `type` is the ggml type id; `data` the raw bytes; `offset` overrides the computed offset.
  void tensor(const std::string& name, std::vector<uint64_t> ne, uint32_t type, std::string data,
              std::optional<uint64_t> offset = std::nullopt) {
    tensors_.push_back({name, std::move(ne), type, std::move(data), offset});
  }

  std::string bytes() const {
    std::string out = "GGUF" + raw(version) + raw(static_cast<uint64_t>(tensors_.size())) +
                      raw(static_cast<uint64_t>(kvs_.size()));
    for (const auto& [k, v] : kvs_) out += str(k).bytes + raw(v.type) + v.bytes;
    std::vector<uint64_t> offsets;
    uint64_t next = 0;
    for (const auto& t : tensors_) {
      offsets.push_back(t.offset.value_or(next));
      next = align(offsets.back() + t.data.size());
    }
    for (size_t i = 0; i < tensors_.size(); ++i) {
      const auto& t = tensors_[i];
      out += str(t.name).bytes + raw(static_cast<uint32_t>(t.ne.size()));
      for (auto n : t.ne) out += raw(n);
      out += raw(t.type) + raw(offsets[i]);
    }
    out.resize(align(out.size()), '\0');
    const size_t data_start = out.size();
    for (size_t i = 0; i < tensors_.size(); ++i) {
      const size_t at = data_start + offsets[i];
      if (out.size() < at + tensors_[i].data.size()) out.resize(at + tensors_[i].data.size(), '\0');
      std::memcpy(out.data() + at, tensors_[i].data.data(), tensors_[i].data.size());
    }
    return out;
  }

  void write(const std::string& path) const { write_bytes(path, bytes()); }
  static void write_bytes(const std::string& path, const std::string& b) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(b.data(), static_cast<std::streamsize>(b.size()));
  }

 private:
  uint64_t align(uint64_t x) const { return (x + alignment - 1) / alignment * alignment; }
  struct Tensor {
    std::string name;
    std::vector<uint64_t> ne;
    uint32_t type;
    std::string data;
    std::optional<uint64_t> offset;
  };
  std::vector<std::pair<std::string, Val>> kvs_;
  std::vector<Tensor> tensors_;
};

// float32 values as raw F32 tensor bytes.
inline std::string f32_bytes(const std::vector<float>& v) {
  std::string s(v.size() * 4, '\0');
  std::memcpy(s.data(), v.data(), s.size());
  return s;
}

// A tiny llama GGUF (F32 weights, value of element i of tensor t = 0.001 * (i % 97) - 0.01 * t)
// with the given architecture; shape: 2 layers, hidden 8, 2 heads, 1 kv head, head_dim 4,
// ffn 16, vocab 10, tied embeddings unless `untied`.
inline GgufTestWriter tiny_llama_gguf(const std::string& arch = "llama", bool untied = false) {
  using W = GgufTestWriter;
  W w;
  w.kv("general.architecture", W::str(arch));
  w.kv("general.name", W::str("tiny"));
  w.kv(arch + ".block_count", W::u32(2));
  w.kv(arch + ".context_length", W::u32(64));
  w.kv(arch + ".embedding_length", W::u32(8));
  w.kv(arch + ".feed_forward_length", W::u32(16));
  w.kv(arch + ".attention.head_count", W::u32(2));
  w.kv(arch + ".attention.head_count_kv", W::u32(1));
  w.kv(arch + ".rope.freq_base", W::f32(10000.0f));
  w.kv(arch + ".rope.dimension_count", W::u32(4));
  w.kv(arch + ".attention.layer_norm_rms_epsilon", W::f32(1e-6f));
  w.kv(arch + ".vocab_size", W::u32(10));
  int t = 0;
  auto add = [&](const std::string& name, std::vector<uint64_t> ne) {
    uint64_t n = 1;
    for (auto d : ne) n *= d;
    std::vector<float> v(n);
    for (uint64_t i = 0; i < n; ++i) v[i] = 0.001f * static_cast<float>(i % 97) - 0.01f * static_cast<float>(t);
    ++t;
    w.tensor(name, ne, 0, f32_bytes(v));
  };
  add("token_embd.weight", {8, 10});
  for (int l = 0; l < 2; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    add(p + "attn_norm.weight", {8});
    add(p + "attn_q.weight", {8, 8});
    add(p + "attn_k.weight", {8, 4});
    add(p + "attn_v.weight", {8, 4});
    add(p + "attn_output.weight", {8, 8});
    add(p + "ffn_norm.weight", {8});
    add(p + "ffn_gate.weight", {8, 16});
    add(p + "ffn_up.weight", {8, 16});
    add(p + "ffn_down.weight", {16, 8});
  }
  add("output_norm.weight", {8});
  if (untied) add("output.weight", {8, 10});
  return w;
}

}  // namespace skv::test
