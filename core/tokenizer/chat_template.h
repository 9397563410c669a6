#pragma once
// Chat templates. Models ship a Jinja template; we do not embed a Jinja engine but recognise the
// ChatML family (<|im_start|>role\ncontent<|im_end|>\n, as in SmolLM2, Qwen, ...) and render it
// natively, including a default system prompt that the template inserts when the conversation
// does not start with one.
#include <optional>
#include <string>
#include <vector>

namespace skv {

struct ChatMessage {
  std::string role;  // "system", "user", "assistant"
  std::string content;
};

struct ChatMlTemplate {
  // Inserted as the first message when messages[0].role != "system" (nullopt: nothing inserted).
  std::optional<std::string> default_system_prompt;
};

// Recognises a ChatML-family Jinja template. Throws skv::Error naming what is unsupported for an
// empty template or one without <|im_start|>.
ChatMlTemplate parse_chat_template(const std::string& jinja_source);

// <|im_start|>{role}\n{content}<|im_end|>\n per message; "<|im_start|>assistant\n" at the end
// when add_generation_prompt.
std::string render_chat(const ChatMlTemplate& tmpl, const std::vector<ChatMessage>& messages,
                        bool add_generation_prompt);

}  // namespace skv
