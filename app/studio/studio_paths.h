#pragma once
// Where the Studio finds things at run time: the user's config folder, the DejaVu font, the
// shipped texts and shape configs.
#include <string>
#include <vector>

namespace skv::studio {

// $XDG_CONFIG_HOME/skv-studio or ~/.config/skv-studio (created on demand by callers that write).
std::string config_dir();
// $XDG_DATA_HOME/skv-studio/sessions or ~/.local/share/skv-studio/sessions: live runs are recorded here.
std::string sessions_dir();
// assets/profiles/*.json (budget profiles from `skv tune`), sorted.
std::vector<std::string> shipped_profiles();
// DejaVu Sans (fonts-dejavu-core) found at run time; empty when none is installed.
std::string find_dejavu_sans();
std::string assets_dir();
std::vector<std::string> shipped_texts();         // assets/texts/*.txt, sorted
std::vector<std::string> shipped_shape_configs(); // assets/models/*.json, sorted
// A prompt for when no text is shipped yet.
const char* builtin_prompt();

}  // namespace skv::studio
