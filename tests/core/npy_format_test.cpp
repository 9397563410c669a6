// .npy files: bytes checked against an independent reading of the format (magic, version, header
// dict), numpy itself when the venv has it, and clear errors for damaged files.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>

#include "core/common/error.h"
#include "core/sessions/atomic_file.h"
#include "core/sessions/npy.h"

namespace fs = std::filesystem;
using namespace skv;

namespace {

fs::path fresh_dir(const std::string& name) {
  fs::path d = fs::path(SKV_TEST_TMP) / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

// The test's own reading of NPY v1.0, written from the numpy.lib.format spec, not from npy.cpp.
struct ParsedHeader {
  int major = 0, minor = 0;
  std::string descr, fortran, shape;
  std::size_t data_offset = 0;
};
ParsedHeader parse_npy_header(const std::vector<uint8_t>& b) {
  ParsedHeader h;
  EXPECT_GE(b.size(), 10u);
  EXPECT_EQ(std::string(b.begin(), b.begin() + 6), std::string("\x93NUMPY"));
  h.major = b[6];
  h.minor = b[7];
  const std::size_t len = b[8] | (b[9] << 8);
  h.data_offset = 10 + len;
  std::string dict(b.begin() + 10, b.begin() + 10 + static_cast<std::ptrdiff_t>(len));
  EXPECT_EQ(dict.back(), '\n');
  std::smatch m;
  EXPECT_TRUE(std::regex_search(dict, m, std::regex(R"('descr':\s*'([^']*)')")));
  h.descr = m[1];
  EXPECT_TRUE(std::regex_search(dict, m, std::regex(R"('fortran_order':\s*(\w+))")));
  h.fortran = m[1];
  EXPECT_TRUE(std::regex_search(dict, m, std::regex(R"('shape':\s*\(([^)]*)\))")));
  h.shape = m[1];
  return h;
}

}  // namespace

TEST(NpyFormat, HeaderIsVersion1LittleEndianAligned) {
  std::vector<float> v(12);
  for (int i = 0; i < 12; ++i) v[i] = 0.5f * i;
  auto bytes = npy_encode(NpyArray::from(v, {3, 4}));
  ParsedHeader h = parse_npy_header(bytes);
  EXPECT_EQ(h.major, 1);
  EXPECT_EQ(h.minor, 0);
  EXPECT_EQ(h.descr, "<f4");
  EXPECT_EQ(h.fortran, "False");
  EXPECT_EQ(std::regex_replace(h.shape, std::regex("\\s"), ""), "3,4");
  EXPECT_EQ(h.data_offset % 64, 0u);
  ASSERT_EQ(bytes.size(), h.data_offset + 48);
  float third;
  std::memcpy(&third, bytes.data() + h.data_offset + 8, 4);
  EXPECT_EQ(third, 1.0f);
}

TEST(NpyFormat, OneDimensionalShapeHasTrailingComma) {
  auto h = parse_npy_header(npy_encode(NpyArray::from(std::vector<int64_t>{1, 2, 3})));
  EXPECT_EQ(h.descr, "<i8");
  EXPECT_EQ(h.shape, "3,");
  auto u = parse_npy_header(npy_encode(NpyArray::from(std::vector<uint8_t>{})));
  EXPECT_EQ(u.descr, "|u1");
  EXPECT_EQ(u.shape, "0,");
}

TEST(NpyFormat, EveryTypeRoundTrips) {
  fs::path d = fresh_dir("npy_types");
  auto check = [&](const NpyArray& a, const std::string& name) {
    npy_save(d / name, a);
    EXPECT_EQ(npy_load(d / name), a) << name;
  };
  check(NpyArray::from(std::vector<float>{1.5f, -2.f, NAN}), "f4.npy");
  check(NpyArray::from(std::vector<double>{1e300, -0.0, 3}, {3, 1}), "f8.npy");
  check(NpyArray::from(std::vector<int32_t>{-7, 1 << 30}), "i4.npy");
  check(NpyArray::from(std::vector<int64_t>{-1, int64_t{1} << 40, 5, 6}, {2, 2}), "i8.npy");
  check(NpyArray::from(std::vector<uint8_t>{0, 255, 3, 4, 5, 6}, {1, 2, 3}), "u1.npy");
  check(NpyArray::from(std::vector<double>{}), "empty.npy");
}

TEST(NpyFormat, TruncatedDataNamesTheFile) {
  fs::path d = fresh_dir("npy_trunc");
  npy_save(d / "a.npy", NpyArray::from(std::vector<double>(100, 1.0)));
  auto b = read_file_bytes(d / "a.npy");
  b.resize(b.size() - 9);
  write_file_atomic(d / "a.npy", b);
  try {
    npy_load(d / "a.npy");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("a.npy"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("truncated"), std::string::npos) << e.what();
  }
  b.resize(7);  // inside the magic/version
  write_file_atomic(d / "a.npy", b);
  EXPECT_THROW(npy_load(d / "a.npy"), Error);
  write_file_atomic(d / "a.npy", std::string("not numpy at all"));
  try {
    npy_load(d / "a.npy");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("a.npy: not an .npy file"), std::string::npos) << e.what();
  }
}

TEST(NpyFormat, UnsupportedTypeAndFortranOrderAreRefused) {
  auto b = npy_encode(NpyArray::from(std::vector<float>{1, 2}));
  std::string s(b.begin(), b.end());
  auto p = s.find("<f4");
  s.replace(p, 3, "<c8");
  std::vector<uint8_t> c(s.begin(), s.end());
  EXPECT_THROW(npy_decode(c, "x.npy"), Error);
  s.replace(p, 3, "<f4");
  s.replace(s.find("False"), 5, "True ");
  std::vector<uint8_t> f(s.begin(), s.end());
  EXPECT_THROW(npy_decode(f, "x.npy"), Error);
}

TEST(NpyFormat, NumpyLoadsWhatWeWriteAndWeLoadWhatNumpyWrites) {
  const fs::path python = fs::path(SKV_DEFAULT_VENV) / "bin" / "python";
  if (std::string(SKV_DEFAULT_VENV).empty() || !fs::exists(python) ||
      std::system(("'" + python.string() + "' -c 'import numpy' 2>/dev/null").c_str()) != 0)
    GTEST_SKIP() << "no python with numpy in the venv";
  fs::path d = fresh_dir("npy_numpy");
  std::vector<double> f8 = {1.0, -2.5, 1e-300, NAN};
  npy_save(d / "f8.npy", NpyArray::from(f8, {2, 2}));
  npy_save(d / "i4.npy", NpyArray::from(std::vector<int32_t>{3, -4, 5}));
  npy_save(d / "u1.npy", NpyArray::from(std::vector<uint8_t>{1, 2, 3, 4, 5, 6}, {1, 2, 3}));
  std::ofstream(d / "check.py") << R"(import numpy as np, sys
d = sys.argv[1]
a = np.load(d + '/f8.npy'); assert a.dtype == np.float64 and a.shape == (2, 2) and a[0, 1] == -2.5 and np.isnan(a[1, 1])
b = np.load(d + '/i4.npy'); assert b.dtype == np.int32 and list(b) == [3, -4, 5]
c = np.load(d + '/u1.npy'); assert c.dtype == np.uint8 and c.shape == (1, 2, 3) and c[0, 1, 2] == 6
np.save(d + '/from_numpy.npy', np.arange(12, dtype=np.int64).reshape(3, 4) * 3)
np.save(d + '/from_numpy_f4.npy', np.linspace(0, 1, 5, dtype=np.float32))
)";
  ASSERT_EQ(std::system(("'" + python.string() + "' '" + (d / "check.py").string() + "' '" + d.string() + "'").c_str()), 0);
  NpyArray a = npy_load(d / "from_numpy.npy");
  EXPECT_EQ(a.shape, (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(a.as<int64_t>()[11], 33);
  NpyArray f = npy_load(d / "from_numpy_f4.npy");
  EXPECT_FLOAT_EQ(f.as<float>()[2], 0.5f);
}
