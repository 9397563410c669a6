#include "core/common/error_text.h"

#include <c10/util/Exception.h>

namespace skv {
namespace {

std::string first_line(const std::string& s) {
  const auto nl = s.find('\n');
  return nl == std::string::npos ? s : s.substr(0, nl);
}

}  // namespace

std::string error_line(const std::exception& e) {
  const auto* te = dynamic_cast<const c10::Error*>(&e);
  if (!te) return first_line(e.what());
  const std::string line = first_line(te->what_without_backtrace());
  // CUDA's caching allocator throws c10::OutOfMemoryError; the CPU allocator a plain c10::Error.
  const bool oom = dynamic_cast<const c10::OutOfMemoryError*>(&e) != nullptr ||
                   line.find("out of memory") != std::string::npos ||
                   line.find("can't allocate memory") != std::string::npos ||
                   line.find("not enough memory") != std::string::npos;
  if (oom) return "out of memory: " + line + " (shorten the prompt or --max-new-tokens, or use a smaller model)";
  return line;
}

}  // namespace skv
