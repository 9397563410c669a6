#pragma once
// The one line a user sees for any exception (the CLI's stderr line, the studio's message): core's
// and the kernels' messages as they are, a libtorch error without its C++ backtrace, and an
// out-of-memory error (GPU or host) named as such with what to lower.
#include <exception>
#include <string>

namespace skv {

std::string error_line(const std::exception& e);

}  // namespace skv
