#pragma once
// GPT-2's byte-level alphabet (bytes_to_unicode in openai/gpt-2 encoder.py): every byte maps to
// one printable Unicode code point, so that BPE vocabularies can be stored as text. Printable
// Latin-1 bytes ('!'..'~', '¡'..'¬', '®'..'ÿ') map to themselves; the other 68 bytes map, in
// byte order, to U+0100, U+0101, ... (so ' ' -> 'Ġ' U+0120, '\n' -> 'Ċ' U+010A).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace skv {

// Raw bytes -> byte-level text (UTF-8 of the mapped code points). Total: any byte sequence.
std::string bytes_to_byte_level(std::string_view bytes);

// Byte-level text -> raw bytes; nullopt if `text` is not valid UTF-8 or holds a code point
// outside the 256-symbol alphabet (e.g. a special token such as "<|im_start|>" is fine because
// it is printable ASCII, but "你" is not byte-level).
std::optional<std::string> byte_level_to_bytes(std::string_view text);

// The code point byte `b` maps to.
uint32_t byte_to_code_point(uint8_t b);

}  // namespace skv
