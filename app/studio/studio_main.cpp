// skv-studio: the interactive GUI for exploring and tuning KV retention.
//   skv-studio                        default model, a shipped text, decoding starts at once
//   skv-studio --screenshot out.png --run 16   decode 16 tokens, write the window as PNG, exit
#include <cstdio>
#include <exception>

#include <CLI/CLI.hpp>

#include "app/studio/studio_app.h"

int main(int argc, char** argv) {
  using namespace skv::studio;
  StudioOptions o = default_options();
  CLI::App cli{"SKV Studio: explore and tune KV-cache retention on a live decoder"};
  cli.add_option("--model", o.run.model_spec, "default | model.gguf | HF checkpoint dir | shape-only .json")->capture_default_str();
  std::string prompt, prompt_file;
  cli.add_option("--prompt", prompt, "Prompt text (default: a shipped text from assets/texts/, else a built-in one)");
  cli.add_option("--prompt-file", prompt_file, "Use this text file as the prompt");
  bool chat = false;
  cli.add_flag("--chat", chat, "Send the prompt through the model's chat template");
  cli.add_option("--device", o.run.device, "auto | cpu | cuda")->capture_default_str();
  cli.add_option("--max-new-tokens", o.run.max_new_tokens, "Tokens to generate")->capture_default_str();
  cli.add_option("--screenshot", o.screenshot, "Render real frames, write the window to this PNG and exit");
  cli.add_option("--run", o.run_steps, "With --screenshot: decode this many tokens first (default 16)");
  cli.add_option("--session", o.session, "Open a recorded session (a folder with manifest.json) and replay it");
  cli.add_option("--width", o.width, "Window width")->capture_default_str();
  cli.add_option("--height", o.height, "Window height")->capture_default_str();
  cli.add_option("--scale", o.scale, "UI scale (default: the monitor's content scale; env SKV_STUDIO_SCALE)");
  cli.add_option("--frame-stats", o.frame_stats_path,
                 "With --screenshot: print where each frame's time went (UI build per panel, render, GL submit, glFinish, swap, "
                 "vertices) and write it as JSON here");
  cli.add_option("--timeout", o.timeout_s, "With --screenshot: give up after this many seconds")->capture_default_str();
  cli.add_flag("--continuous", o.continuous, "Draw every frame (up to 60 fps) even when nothing changed");
  bool no_start = false;
  cli.add_flag("--no-start", no_start, "Open without starting a run");
  CLI11_PARSE(cli, argc, argv);

  if (!prompt.empty()) {
    o.run.prompt_text = prompt;
    o.run.prompt_source = PromptSource::text;
  }
  if (!prompt_file.empty()) {
    o.run.prompt_file = prompt_file;
    o.run.prompt_source = PromptSource::file;
  }
  if (chat) o.run.prompt_source = PromptSource::chat;
  o.autostart = !no_start;
  if (!o.screenshot.empty()) {
    o.persist_layout = false;  // screenshots always show the default layout
    if (o.run_steps <= 0) o.run_steps = 16;
  }
  try {
    StudioApp app(o);
    app.init();
    return app.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "skv-studio: %s\n", e.what());
    return 1;
  }
}
