// Run panel: model, prompt, device, sampling, and the run controls.
#include <filesystem>

#include <imgui.h>
#include <imgui_stdlib.h>

#include "app/studio/studio_panels.h"

namespace skv::studio {
namespace fs = std::filesystem;

namespace {

void draw_model_choice(RunPanelState& st) {
  const char* kinds[] = {"default (SmolLM2-135M-Instruct, GGUF)", "file (GGUF, safetensors, shape JSON)",
                         "shipped shape config (random weights)"};
  ImGui::SetNextItemWidth(-FLT_MIN);
  if (ImGui::Combo("##model_kind", &st.model_choice, kinds, IM_ARRAYSIZE(kinds))) {
    if (st.model_choice == 0) st.edit.model_spec = "default";
    if (st.model_choice == 2 && !st.shape_configs.empty()) st.edit.model_spec = st.shape_configs.front();
    if (st.model_choice == 1) st.edit.model_spec.clear();
  }
  help_tooltip("Which model to run. 'default' is the packaged SmolLM2-135M-Instruct GGUF; a file can be a .gguf, a "
               ".safetensors checkpoint (config.json and tokenizer.json beside it) or a shape-only .json (seeded "
               "random weights: shapes, memory and speed only).");
  if (st.model_choice == 1) {
    ImGui::SetNextItemWidth(-ImGui::CalcTextSize("Browse...").x - ImGui::GetStyle().ItemSpacing.x * 3);
    ImGui::InputTextWithHint("##model_path", "path to .gguf / .safetensors / .json", &st.edit.model_spec);
    help_tooltip("Path of the model file (or a Hugging Face checkpoint folder).");
    ImGui::SameLine();
    if (ImGui::Button("Browse...")) {
      st.model_picker.open = true;
      st.model_picker.title = "Pick a model file";
      st.model_picker.extensions = {".gguf", ".safetensors", ".json"};
    }
    help_tooltip("Browse for a .gguf, .safetensors or shape-only .json file.");
    if (draw_file_picker(st.model_picker)) st.edit.model_spec = st.model_picker.selected;
  } else if (st.model_choice == 2) {
    if (st.shape_configs.empty()) {
      ImGui::TextDisabled("no shape configs in assets/models");
    } else {
      ImGui::SetNextItemWidth(-FLT_MIN);
      if (ImGui::BeginCombo("##shape", fs::path(st.edit.model_spec).filename().string().c_str())) {
        for (const auto& s : st.shape_configs)
          if (ImGui::Selectable(fs::path(s).filename().string().c_str(), s == st.edit.model_spec)) st.edit.model_spec = s;
        ImGui::EndCombo();
      }
      help_tooltip("A shipped model shape (assets/models/*.json) with seeded random weights: the text is noise, the "
                   "shapes, cache sizes and timings are real.");
    }
  }
}

void draw_prompt_choice(RunPanelState& st) {
  int src = static_cast<int>(st.edit.prompt_source);
  ImGui::RadioButton("text", &src, 0);
  help_tooltip("Continue a plain text prompt.");
  ImGui::SameLine();
  ImGui::RadioButton("text file", &src, 1);
  help_tooltip("Use a text file as the prompt (the shipped ones are in assets/texts/).");
  ImGui::SameLine();
  ImGui::RadioButton("chat", &src, 2);
  help_tooltip("Send the text as one user message through the model's chat template.");
  st.edit.prompt_source = static_cast<PromptSource>(src);
  if (st.edit.prompt_source == PromptSource::file) {
    ImGui::SetNextItemWidth(-ImGui::CalcTextSize("Browse...").x - ImGui::GetStyle().ItemSpacing.x * 3);
    const std::string shown = st.edit.prompt_file.empty() ? "(pick a text)" : fs::path(st.edit.prompt_file).filename().string();
    if (ImGui::BeginCombo("##texts", shown.c_str())) {
      for (const auto& t : st.texts)
        if (ImGui::Selectable(fs::path(t).filename().string().c_str(), t == st.edit.prompt_file)) st.edit.prompt_file = t;
      if (st.texts.empty()) ImGui::TextDisabled("no texts shipped in assets/texts/");
      ImGui::EndCombo();
    }
    help_tooltip("A shipped text from assets/texts/.");
    ImGui::SameLine();
    if (ImGui::Button("Browse...##text")) {
      st.text_picker.open = true;
      st.text_picker.title = "Pick a text file";
      st.text_picker.extensions = {".txt", ".md"};
    }
    help_tooltip("Browse for any .txt or .md file.");
    if (draw_file_picker(st.text_picker)) st.edit.prompt_file = st.text_picker.selected;
  } else {
    ImGui::InputTextMultiline("##prompt", &st.edit.prompt_text, ImVec2(-FLT_MIN, ImGui::GetTextLineHeight() * 5));
    help_tooltip(st.edit.prompt_source == PromptSource::chat ? "The user message." : "The prompt text the model continues.");
  }
}

}  // namespace

void draw_run_panel(RunPanelState& st, const StudioSnapshot& snap, StudioActions& act) {
  if (!ImGui::Begin(kRunPanel)) {
    ImGui::End();
    return;
  }
  const bool running = snap.phase == RunPhase::loading || snap.phase == RunPhase::prefill ||
                       snap.phase == RunPhase::decoding || snap.phase == RunPhase::paused;

  // Controls first: they are what a user reaches for while a run goes.
  if (!running || snap.phase == RunPhase::paused) {
    if (ImGui::Button(snap.phase == RunPhase::paused ? "Resume" : "Run")) {
      if (snap.phase == RunPhase::paused) act.resume = true;
      else act.start = true;
    }
    help_tooltip(snap.phase == RunPhase::paused ? "Continue decoding (Space)." : "Load the model if needed, prefill the prompt and decode (Space).");
  } else {
    if (ImGui::Button("Pause")) act.pause = true;
    help_tooltip("Pause after the current token (Space).");
  }
  ImGui::SameLine();
  if (ImGui::Button("Step")) act.step = true;
  help_tooltip("Decode exactly one more token, then pause (S). Starts a paused run when idle.");
  ImGui::SameLine();
  ImGui::BeginDisabled(!running);
  if (ImGui::Button("Stop")) act.stop = true;
  help_tooltip("End the run at the next token; what was generated stays (Esc).");
  ImGui::EndDisabled();
  ImGui::SameLine();
  if (ImGui::Button("Restart")) act.start = true;
  help_tooltip("Start a new run with the settings below (the current one stops).");

  // Status: phase, prefill progress, speed.
  ImGui::Text("%s", phase_label(snap.phase));
  if (!snap.phase_detail.empty()) {
    ImGui::SameLine();
    ImGui::TextDisabled("%s", snap.phase_detail.c_str());
  }
  const float frac = snap.prefill_total > 0 ? static_cast<float>(snap.prefill_done) / static_cast<float>(snap.prefill_total) : 0.0f;
  char overlay[64];
  std::snprintf(overlay, sizeof overlay, "prefill %lld / %lld", static_cast<long long>(snap.prefill_done),
                static_cast<long long>(snap.prefill_total));
  ImGui::ProgressBar(frac, ImVec2(-FLT_MIN, 0), overlay);
  help_tooltip("Prompt tokens through the model so far (prefill runs in chunks of 64).");
  const double tps = snap.series.tokens_per_s.empty() ? 0.0 : snap.series.tokens_per_s.back();
  ImGui::Text("%zu tokens  |  %.1f tokens/s  |  %s", snap.tokens.size(), tps, snap.device.empty() ? "-" : snap.device.c_str());

  ImGui::SeparatorText("Model");
  draw_model_choice(st);
  ImGui::SeparatorText("Prompt");
  draw_prompt_choice(st);

  ImGui::SeparatorText("Device and sampling");
  const char* devices[] = {"auto", "cpu", "cuda"};
  int dev = st.edit.device == "cpu" ? 1 : st.edit.device == "cuda" ? 2 : 0;
  ImGui::SetNextItemWidth(ImGui::GetFontSize() * 7);
  if (ImGui::Combo("device", &dev, devices, IM_ARRAYSIZE(devices))) st.edit.device = devices[dev];
  help_tooltip("auto: the GPU when one is present, else the CPU.");
  int max_new = static_cast<int>(st.edit.max_new_tokens);
  ImGui::SetNextItemWidth(ImGui::GetFontSize() * 7);
  if (ImGui::DragInt("max new tokens", &max_new, 1.0f, 1, 32768)) st.edit.max_new_tokens = max_new;
  help_tooltip("Tokens to generate (fewer if the model's context ends first).");
  int max_prompt = static_cast<int>(st.edit.max_prompt_tokens);
  ImGui::SetNextItemWidth(ImGui::GetFontSize() * 7);
  if (ImGui::DragInt("max prompt tokens", &max_prompt, 1.0f, -1, 131072, max_prompt < 0 ? "auto" : max_prompt == 0 ? "all" : "%d"))
    st.edit.max_prompt_tokens = max_prompt;
  help_tooltip("Keep only the prompt's first N tokens. auto (-1): 512 on a CPU (enough for RDR at 25 % with the default hot window), on a GPU all that fits the context with room for the new tokens; 0: all.");
  float temp = static_cast<float>(st.edit.temperature);
  ImGui::SetNextItemWidth(ImGui::GetFontSize() * 7);
  if (ImGui::SliderFloat("temperature", &temp, 0.0f, 2.0f, "%.2f")) st.edit.temperature = temp;
  help_tooltip("0 = greedy (deterministic). Higher spreads the choice over more tokens.");
  float top_p = static_cast<float>(st.edit.top_p);
  ImGui::SetNextItemWidth(ImGui::GetFontSize() * 7);
  if (ImGui::SliderFloat("top-p", &top_p, 0.05f, 1.0f, "%.2f")) st.edit.top_p = top_p;
  help_tooltip("Nucleus sampling: keep the smallest set of tokens whose probability reaches this mass.");
  int seed = static_cast<int>(st.edit.seed);
  ImGui::SetNextItemWidth(ImGui::GetFontSize() * 7);
  if (ImGui::InputInt("seed", &seed)) st.edit.seed = static_cast<uint64_t>(std::max(seed, 0));
  help_tooltip("Sampling seed: the same seed and settings give the same text.");

  ImGui::SeparatorText("Measurements");
  ImGui::Checkbox("measure attention error", &st.edit.measure_attention_error);
  help_tooltip("Run a shadow exact fp32 cache beside the policy's backend, on the same q/k/v (teacher forcing), and "
               "measure the attention-output error per (layer, head). Costs one extra attention per layer.");
  ImGui::Checkbox("measure KL / top-1", &st.edit.measure_fidelity);
  help_tooltip("Run a full-cache reference decoder fed the same tokens (as `skv record` does) and plot the running "
               "next-token KL(full || compressed) and top-1 agreement. Costs one extra forward per step (not timed).");
  ImGui::Checkbox("record session", &st.edit.record_session);
  help_tooltip("Record the run (core/sessions, autosaved every 16 steps or 5 s) so it can be replayed, compared and "
               "exported from the Sessions panel. Off: nothing is written.");
  const char* levels[] = {"auto", "off", "cpu", "timeline", "counters"};
  int lvl = 0;
  for (int i = 0; i < IM_ARRAYSIZE(levels); ++i)
    if (st.edit.probe_level == levels[i]) lvl = i;
  ImGui::SetNextItemWidth(ImGui::GetFontSize() * 7);
  if (ImGui::Combo("probe", &lvl, levels, IM_ARRAYSIZE(levels))) st.edit.probe_level = levels[lvl];
  help_tooltip("What the probe records: cpu = host timings and modeled bytes; timeline = + CUPTI kernel records; "
               "counters = + DRAM bytes from the CUPTI Range Profiler. auto = timeline on a GPU, cpu otherwise. "
               "A level the machine cannot give falls back and says why in Messages.");
  if (!snap.probe_level.empty()) {
    ImGui::SameLine();
    ImGui::TextDisabled("(reached: %s)", snap.probe_level.c_str());
  }
  ImGui::End();
}

}  // namespace skv::studio
