#include "core/tokenizer/chat_template.h"

#include "core/common/error.h"

namespace skv {
namespace {

constexpr std::string_view kStart = "<|im_start|>";
constexpr std::string_view kEnd = "<|im_end|>";
constexpr std::string_view kSystemStart = "<|im_start|>system";

// Jinja string-literal escapes; GGUF/tokenizer_config templates hold either real newlines or "\n".
std::string unescape_jinja(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\' || i + 1 == s.size()) {
      out.push_back(s[i]);
      continue;
    }
    const char c = s[++i];
    switch (c) {
      case 'n': out.push_back('\n'); break;
      case 't': out.push_back('\t'); break;
      case 'r': out.push_back('\r'); break;
      default: out.push_back(c); break;  // \\ \' \"
    }
  }
  return out;
}

}  // namespace

ChatMlTemplate parse_chat_template(const std::string& src) {
  if (src.empty())
    throw Error("the model has no chat template (tokenizer.chat_template); only ChatML templates are supported");
  if (src.find(kStart) == std::string::npos)
    throw Error("unsupported chat template (no <|im_start|>): only the ChatML family is rendered");
  ChatMlTemplate t;
  // A literal "<|im_start|>system" followed by a newline (real or escaped) is the default system
  // block, e.g. SmolLM2's '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, ...<|im_end|>\n'.
  for (size_t at = src.find(kSystemStart); at != std::string::npos; at = src.find(kSystemStart, at + 1)) {
    size_t body = at + kSystemStart.size();
    if (src.compare(body, 1, "\n") == 0) {
      body += 1;
    } else if (src.compare(body, 2, "\\n") == 0) {
      body += 2;
    } else {
      continue;
    }
    const size_t end = src.find(kEnd, body);
    if (end == std::string::npos) break;
    const std::string_view raw(src.data() + body, end - body);
    // A Jinja expression or a closed string literal inside means the prompt is not a literal.
    if (raw.find("{{") != std::string_view::npos || raw.find("{%") != std::string_view::npos ||
        raw.find("' +") != std::string_view::npos || raw.find("\" +") != std::string_view::npos)
      continue;
    t.default_system_prompt = unescape_jinja(raw);
    break;
  }
  return t;
}

std::string render_chat(const ChatMlTemplate& tmpl, const std::vector<ChatMessage>& messages,
                        bool add_generation_prompt) {
  std::string out;
  auto block = [&out](std::string_view role, std::string_view content) {
    out.append(kStart).append(role).append("\n").append(content).append(kEnd).append("\n");
  };
  if (!messages.empty() && messages.front().role != "system" && tmpl.default_system_prompt)
    block("system", *tmpl.default_system_prompt);
  for (const auto& m : messages) block(m.role, m.content);
  if (add_generation_prompt) out.append(kStart).append("assistant\n");
  return out;
}

}  // namespace skv
