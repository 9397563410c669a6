// The kernels layer's one exception type: one-line messages a caller can act on.
#pragma once
#include <stdexcept>
#include <string>

namespace skv {

class KernelError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace skv
