#include "app/cli/cli_inputs.h"

#include <fstream>
#include <iterator>
#include <sstream>

#include "core/common/error.h"

namespace skv::cli {

std::string read_reference_text(const std::string& path_or_name) {
  std::ifstream in(path_or_name, std::ios::binary);
#ifdef SKV_ASSETS_DIR
  if (!in) in.open(std::string(SKV_ASSETS_DIR) + "/texts/" + path_or_name, std::ios::binary);
#endif
  if (!in) throw Error("cannot open text '" + path_or_name + "' (a path, or a file name of assets/texts)");
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

}  // namespace skv::cli
