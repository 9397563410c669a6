// Inputs the skv subcommands share: reference texts by path or by name, comma lists.
#pragma once

#include <string>
#include <vector>

namespace skv::cli {

// The file's bytes; a bare name is also looked up in assets/texts/. Throws skv::Error (one line).
std::string read_reference_text(const std::string& path_or_name);

// "a,b,,c" -> {"a", "b", "c"}.
std::vector<std::string> split_list(const std::string& s);

}  // namespace skv::cli
