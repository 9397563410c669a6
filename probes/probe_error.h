// The probes layer's one exception type. Messages are one line and say what the user can do.
// Probe::start() never throws for an unavailable GPU/CUPTI: it reports a StatusRecord and
// degrades. ProbeError is for misuse the caller can fix (bad options, bad arguments).
#pragma once

#include <stdexcept>
#include <string>

namespace skv::probes {

class ProbeError : public std::runtime_error {
 public:
  explicit ProbeError(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace skv::probes
