// error_line: every exception a user can meet becomes one line (no libtorch C++ backtrace), and an
// allocation failure says "out of memory" with what to lower.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "core/common/error.h"
#include "core/common/error_text.h"

namespace skv {
namespace {

template <class F>
std::string line_of(F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return error_line(e);
  }
  return "(no exception)";
}

TEST(ErrorLine, LibtorchErrorsLoseTheirBacktrace) {
  const std::string line = line_of([] { (void)at::matmul(at::ones({2, 3}), at::ones({4, 5})); });
  EXPECT_NE(line.find("cannot be multiplied"), std::string::npos) << line;
  EXPECT_EQ(line.find('\n'), std::string::npos) << line;
  EXPECT_EQ(line.find("frame #"), std::string::npos) << line;
}

TEST(ErrorLine, AFailedAllocationIsNamedOutOfMemory) {
  // 1 PiB: beyond any host's address space, so the allocator refuses at once (a CUDA
  // out-of-memory is a c10::OutOfMemoryError; the CPU allocator's refusal a plain c10::Error).
  const std::string line = line_of([] { (void)at::empty({int64_t(1) << 50}, at::kByte); });
  EXPECT_EQ(line.rfind("out of memory: ", 0), 0u) << line;
  EXPECT_NE(line.find("shorten the prompt"), std::string::npos) << line;
  EXPECT_NE(line.find("1125899906842624"), std::string::npos) << line;  // the allocator's own words stay
  EXPECT_EQ(line.find('\n'), std::string::npos) << line;
}

TEST(ErrorLine, ACudaOutOfMemoryErrorIsNamedSo) {
  const std::string line = line_of([] {
    C10_THROW_ERROR(OutOfMemoryError, "CUDA out of memory. Tried to allocate 2.00 GiB.\nmore detail");
  });
  EXPECT_EQ(line.rfind("out of memory: CUDA out of memory. Tried to allocate 2.00 GiB.", 0), 0u) << line;
  EXPECT_EQ(line.find('\n'), std::string::npos) << line;
}

TEST(ErrorLine, CoreErrorsAreUnchanged) {
  EXPECT_EQ(line_of([] { throw Error("model file is corrupt: bad magic"); }), "model file is corrupt: bad magic");
}

}  // namespace
}  // namespace skv
