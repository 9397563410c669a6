#include "app/studio/studio_paths.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>

#ifndef SKV_ASSETS_DIR
#define SKV_ASSETS_DIR ""
#endif

namespace skv::studio {
namespace fs = std::filesystem;
namespace {

std::vector<std::string> files_with_extension(const fs::path& dir, const std::string& ext) {
  std::vector<std::string> out;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    if (it->path().extension() == ext) out.push_back(it->path().string());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

std::string sessions_dir() {
  if (const char* xdg = std::getenv("XDG_DATA_HOME"); xdg && *xdg) return (fs::path(xdg) / "skv-studio" / "sessions").string();
  const char* home = std::getenv("HOME");
  return (fs::path(home && *home ? home : ".") / ".local" / "share" / "skv-studio" / "sessions").string();
}

std::vector<std::string> shipped_profiles() { return files_with_extension(fs::path(assets_dir()) / "profiles", ".json"); }

std::string config_dir() {
  if (const char* xdg = std::getenv("XDG_CONFIG_HOME"); xdg && *xdg) return (fs::path(xdg) / "skv-studio").string();
  if (const char* home = std::getenv("HOME"); home && *home) return (fs::path(home) / ".config" / "skv-studio").string();
  return ".skv-studio";
}

std::string find_dejavu_sans() {
  // $SKV_STUDIO_FONT (a machine without the package: the GPU machine's carried copy), the usual
  // places (Debian's fonts-dejavu-core, Fedora, Arch), then fontconfig.
  if (const char* f = std::getenv("SKV_STUDIO_FONT"); f && *f && std::filesystem::exists(f)) return f;
  const char* candidates[] = {"/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/usr/share/fonts/dejavu/DejaVuSans.ttf",
                              "/usr/share/fonts/TTF/DejaVuSans.ttf", "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
                              "/usr/local/share/fonts/DejaVuSans.ttf"};
  std::error_code ec;
  for (const char* c : candidates)
    if (fs::exists(c, ec)) return c;
  std::unique_ptr<FILE, int (*)(FILE*)> p(popen("fc-match -f '%{file}' 'DejaVu Sans' 2>/dev/null", "r"), pclose);
  if (p) {
    std::array<char, 512> buf{};
    const size_t n = std::fread(buf.data(), 1, buf.size() - 1, p.get());
    std::string path(buf.data(), n);
    if (path.find("DejaVuSans") != std::string::npos && fs::exists(path, ec)) return path;
  }
  return {};
}

std::string assets_dir() {
  if (const char* env = std::getenv("SKV_ASSETS_DIR"); env && *env) return env;
  return SKV_ASSETS_DIR;
}

std::vector<std::string> shipped_texts() { return files_with_extension(fs::path(assets_dir()) / "texts", ".txt"); }
std::vector<std::string> shipped_shape_configs() { return files_with_extension(fs::path(assets_dir()) / "models", ".json"); }

const char* builtin_prompt() {
  return "The printing press changed how ideas travelled. Before it, a book was copied by hand, one page at a time, "
         "and a library of a few hundred volumes was a fortune. Within fifty years of Gutenberg's first Bible, "
         "presses in more than two hundred European towns had printed millions of books. Historians still argue "
         "about what followed, but most agree on three consequences.";
}

}  // namespace skv::studio
