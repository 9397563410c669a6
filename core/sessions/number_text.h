#pragma once
// Numbers as text for file names, tables and CSV. Not fmt: torch's include directory carries its
// own fmt headers (another major version than the system libfmt the build links), and GCC 12 has
// no std::format; snprintf and to_chars are enough here.
#include <charconv>
#include <cstdio>
#include <string>

namespace skv {

// Shortest text that reads back to the same double ("0.25", "1e-05", "3").
inline std::string shortest(double v) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

// printf into a std::string.
template <typename... Args>
std::string printf_string(const char* format, Args... args) {
  const int n = std::snprintf(nullptr, 0, format, args...);
  std::string out(n > 0 ? static_cast<std::size_t>(n) : 0, '\0');
  if (n > 0) std::snprintf(out.data(), out.size() + 1, format, args...);
  return out;
}

}  // namespace skv
