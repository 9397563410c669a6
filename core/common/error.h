#pragma once
// The one exception type of core/: its message is a single line a user can act on.
// The CLI prints it and exits non-zero; the GUI shows it in a panel.
#include <stdexcept>
#include <string>

namespace skv {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace skv
