// ChatML rendering. The expected strings are written out by hand here; the GGUF's own template
// is also checked against jinja2's rendering in tokenizer_bpe_test.cpp.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/common/error.h"
#include "core/tokenizer/chat_template.h"

namespace skv {
namespace {

std::string smollm2_template() {
  std::ifstream in(std::filesystem::path(__FILE__).parent_path() / "data" / "tokenizer_cases.json");
  return nlohmann::json::parse(in).at("chat_template").get<std::string>();
}

TEST(ChatTemplate, SmolLm2TwoMessagesGetTheDefaultSystemPrompt) {
  const ChatMlTemplate t = parse_chat_template(smollm2_template());
  ASSERT_TRUE(t.default_system_prompt.has_value());
  EXPECT_EQ(*t.default_system_prompt, "You are a helpful AI assistant named SmolLM, trained by Hugging Face");
  const std::vector<ChatMessage> chat = {{"user", "What is 2+2?"}, {"assistant", "4"}};
  EXPECT_EQ(render_chat(t, chat, false),
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
            "<|im_start|>user\nWhat is 2+2?<|im_end|>\n"
            "<|im_start|>assistant\n4<|im_end|>\n");
  EXPECT_EQ(render_chat(t, {{"user", "Hi"}}, true),
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
            "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
}

TEST(ChatTemplate, OwnSystemMessageReplacesTheDefault) {
  const ChatMlTemplate t = parse_chat_template(smollm2_template());
  EXPECT_EQ(render_chat(t, {{"system", "Be brief."}, {"user", "Hi"}}, true),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_EQ(render_chat(t, {}, false), "");
}

TEST(ChatTemplate, EscapedNewlinesInTheTemplateAreUnescaped) {
  // tokenizer_config.json templates may keep "\n" as a Jinja escape instead of a real newline.
  const std::string src =
      "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
      "{{ '<|im_start|>system\\nYou are Qwen, a \\'helpful\\' assistant.<|im_end|>\\n' }}{% endif %}"
      "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}";
  const ChatMlTemplate t = parse_chat_template(src);
  ASSERT_TRUE(t.default_system_prompt.has_value());
  EXPECT_EQ(*t.default_system_prompt, "You are Qwen, a 'helpful' assistant.");
}

TEST(ChatTemplate, ChatMlWithoutDefaultSystemPromptInsertsNone) {
  const ChatMlTemplate t = parse_chat_template(
      "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + "
      "'<|im_end|>' + '\n'}}{% endfor %}");
  EXPECT_FALSE(t.default_system_prompt.has_value());
  EXPECT_EQ(render_chat(t, {{"user", "x"}}, false), "<|im_start|>user\nx<|im_end|>\n");
}

TEST(ChatTemplate, NonChatMlTemplatesAreRejectedByName) {
  const std::string llama3 =
      "{% for message in messages %}{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + "
      "message['content'] + '<|eot_id|>' }}{% endfor %}";
  try {
    parse_chat_template(llama3);
    ADD_FAILURE() << "llama3 template accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("ChatML"), std::string::npos) << e.what();
  }
  EXPECT_THROW(parse_chat_template(""), Error);
}

}  // namespace
}  // namespace skv
