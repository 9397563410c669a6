// skv_studio_frames: the Studio's frame cost with no window and no GL. The same panels draw the
// same StudioWorker's snapshots while it decodes the real model (default: SmolLM2, RDR 25 %, the
// first shipped text), through ImGui + ImPlot's core and ImGui's null backend: font atlas built,
// DisplaySize set, NewFrame / panels / Render, draw data discarded. Prints and writes (--json) UI
// CPU ms per frame (p50 / p95 / max, per panel), the frame rate the UI thread could sustain, draw
// counts and the decoder's tokens/s over the same frames. Builds where GLFW and OpenGL are absent
// (the GPU machine); docs/STUDIO.md and docs/BENCHMARKS.md say how it is run.
#include <execinfo.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <thread>

#include <CLI/CLI.hpp>
#include <imgui.h>
#include <imgui_impl_null.h>
#include <implot.h>

#include "app/studio/studio_frame.h"
#include "app/studio/studio_worker.h"

namespace {
// A crash (a heap abort, a segfault) prints the stack of the thread it hit, so a GPU run that
// dies says where. backtrace_symbols_fd does not allocate; backtrace() is called once at start
// so that its lazy loading of libgcc is not done inside the handler.
void print_stack_and_die(int sig) {
  void* frames[64];
  const int n = backtrace(frames, 64);
  const char* what = sig == SIGABRT ? "SIGABRT" : sig == SIGSEGV ? "SIGSEGV" : "SIGBUS";
  (void)!write(2, "skv_studio_frames: ", 19);
  (void)!write(2, what, std::strlen(what));
  (void)!write(2, ", stack:\n", 9);
  backtrace_symbols_fd(frames, n, 2);
  signal(sig, SIG_DFL);
  raise(sig);
}

void install_crash_stack_printer() {
  void* warm[2];
  backtrace(warm, 2);
  for (int sig : {SIGABRT, SIGSEGV, SIGBUS}) signal(sig, print_stack_and_die);
}
}  // namespace

int main(int argc, char** argv) {
  install_crash_stack_printer();
  using namespace skv::studio;
  using Clock = std::chrono::steady_clock;
  auto ms_between = [](Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double, std::milli>(b - a).count(); };

  RunSettings run;
  PolicySettings policy;
  default_run(run, policy);
  run.max_new_tokens = 4096;
  int frames = 100000, width = 1600, height = 1000, warmup = 30;
  double fps_cap = 60, max_seconds = 10, scale = 1.0;
  std::string json_path, prompt_file;
  CLI::App cli{"Headless frame benchmark of the Studio's UI (no window, no GL) while the worker decodes"};
  cli.add_option("--model", run.model_spec, "default | model.gguf | HF checkpoint dir | shape-only .json")->capture_default_str();
  cli.add_option("--device", run.device, "auto | cpu | cuda")->capture_default_str();
  cli.add_option("--prompt-file", prompt_file, "Prompt text file (default: the first shipped text)");
  cli.add_option("--max-prompt-tokens", run.max_prompt_tokens, "Prompt tokens kept: -1 auto (512 on a CPU; on a GPU all that fits the context), 0 all")
      ->capture_default_str();
  cli.add_option("--max-new-tokens", run.max_new_tokens, "Tokens the run may generate")->capture_default_str();
  cli.add_option("--budget", policy.budget_percent, "RDR budget in % of the fp16 cache")->capture_default_str();
  cli.add_option("--frames", frames, "Stop after measuring this many frames while decoding")->capture_default_str();
  cli.add_option("--warmup", warmup, "Frames drawn before any is measured (font glyphs, layout)")->capture_default_str();
  cli.add_option("--fps", fps_cap, "Pace frames like the app (at most this rate; 0 = as fast as the UI thread can)")->capture_default_str();
  cli.add_option("--max-seconds", max_seconds, "Measure for this many seconds of decoding (or until --frames)")->capture_default_str();
  cli.add_option("--width", width, "Display width")->capture_default_str();
  cli.add_option("--height", height, "Display height")->capture_default_str();
  cli.add_option("--scale", scale, "UI scale")->capture_default_str();
  cli.add_option("--probe", run.probe_level, "Probe level: auto (timeline on a GPU) | off | cpu | timeline | counters")
      ->capture_default_str();
  std::string probe_flush = "decode";
  cli.add_option("--probe-flush", probe_flush,
                 "Which thread calls CUPTI's flush: decode (between steps, the default) or worker (the probe worker "
                 "thread every 50 ms, the Studio's way before 2026-11-26; for comparison runs)")
      ->check(CLI::IsMember({"decode", "worker"}))
      ->capture_default_str();
  cli.add_option("--json", json_path, "Write the results as JSON here");
  CLI11_PARSE(cli, argc, argv);
  if (!prompt_file.empty()) {
    run.prompt_source = PromptSource::file;
    run.prompt_file = prompt_file;
  }
  run.record_session = false;  // a benchmark leaves nothing behind
  if (frames <= 0 || width <= 0 || height <= 0 || scale <= 0) {
    std::fprintf(stderr, "skv_studio_frames: --frames, --width, --height and --scale must be positive\n");
    return 1;
  }

  IMGUI_CHECKVERSION();
  ImGui::CreateContext();
  ImPlot::CreateContext();
  ImGuiIO& io = ImGui::GetIO();
  io.ConfigFlags |= ImGuiConfigFlags_DockingEnable;
  io.IniFilename = nullptr;
  StudioUi ui;
  ui.run.edit = run;
  ui.policy.edit = policy;
  ui.dpi_scale = static_cast<float>(scale);
  setup_studio_style(ui, static_cast<float>(scale));
  ImGui_ImplNullPlatform_Init();
  ImGui_ImplNullRender_Init();  // honours texture requests (the dynamic font atlas) without a GPU

  StudioWorker worker(/*probe_flush_on_worker=*/probe_flush == "worker");
  worker.start(run, policy);
  StudioHost host;
  FrameStatsLog log;
  const Clock::time_point start = Clock::now();
  Clock::time_point last = start, measure_t0{}, measure_t1{};
  size_t tokens0 = 0, tokens1 = 0;
  int drawn = 0;
  std::shared_ptr<const StudioSnapshot> snap;
  while (true) {
    FrameStats fs;
    const Clock::time_point t0 = Clock::now();
    snap = worker.snapshot();
    auto probe = worker.probe_snapshot();
    if (!probe) probe = std::make_shared<skv::probes::ProbeSnapshot>();
    const Clock::time_point t1 = Clock::now();
    fs.snapshot_ms = ms_between(t0, t1);
    fs.decoding = snap->phase == RunPhase::decoding;
    io.DisplaySize = ImVec2(static_cast<float>(width), static_cast<float>(height));
    io.DisplayFramebufferScale = ImVec2(1, 1);
    io.DeltaTime = std::max(1e-4f, static_cast<float>(ms_between(last, t0) / 1000.0));
    last = t0;
    ImGui::NewFrame();
    const Clock::time_point t2 = Clock::now();
    fs.new_frame_ms = ms_between(t1, t2);
    StudioActions act;
    draw_studio_frame(ui, host, *snap, *snap, *probe, act, &fs);
    const Clock::time_point t3 = Clock::now();
    worker.set_focus(ui.tier_map.layer, ui.tier_map.head, ui.error_map.layer, ui.error_map.head);
    const Clock::time_point t4 = Clock::now();
    fs.part_ms[kFrameParts - 1] += ms_between(t3, t4);
    fs.ui_ms = ms_between(t1, t4);
    ImGui::Render();
    const Clock::time_point t5 = Clock::now();
    fs.render_ms = ms_between(t4, t5);
    count_draw_data(ImGui::GetDrawData(), fs);
    ImGui_ImplNullRender_RenderDrawData(ImGui::GetDrawData());  // draw data discarded
    fs.frame_ms = ms_between(t0, Clock::now());
    ++drawn;

    const bool measured = fs.decoding && drawn > warmup;
    if (measured) {
      if (log.frames.empty()) measure_t0 = t0, tokens0 = snap->tokens.size();
      log.add(fs);
      measure_t1 = Clock::now();
      tokens1 = snap->tokens.size();
    }
    ui.frame_log.add(fs);
    if (snap->phase == RunPhase::failed) {
      std::fprintf(stderr, "skv_studio_frames: run failed: %s\n", snap->phase_detail.c_str());
      return 2;
    }
    if (static_cast<int>(log.frames.size()) >= frames) break;
    if (!log.frames.empty() && ms_between(measure_t0, Clock::now()) > max_seconds * 1000) break;
    if (!log.frames.empty() && !fs.decoding) break;  // the run ended
    if (log.frames.empty() && ms_between(start, Clock::now()) > 600e3) {
      std::fprintf(stderr, "skv_studio_frames: no token decoded within 600 s (phase %s)\n", phase_label(snap->phase));
      return 3;
    }
    if (fps_cap > 0) {
      const double spent = ms_between(t0, Clock::now());
      if (spent < 1000.0 / fps_cap) std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(1000.0 / fps_cap - spent));
    }
    const double dt = ms_between(t0, Clock::now());
    if (dt > 0) ui.fps = ui.fps == 0 ? 1000.0 / dt : 0.9 * ui.fps + 100.0 / dt;
  }
  worker.stop();

  const double seconds = ms_between(measure_t0, measure_t1) / 1000.0;
  nlohmann::json j;
  j["tool"] = "skv_studio_frames";
  char host_name[256] = {};
  gethostname(host_name, sizeof host_name - 1);
  j["host"] = host_name;
  j["hardware_threads"] = std::thread::hardware_concurrency();
  j["model"] = snap->model.name;
  j["model_spec"] = run.model_spec;
  j["device"] = snap->device;
  j["backend"] = snap->backend_name;
  j["prompt_tokens"] = snap->prompt_tokens.size();
  j["display"] = {width, height};
  j["scale"] = scale;
  j["fps_cap"] = fps_cap;
  j["probe_level"] = snap->probe_level;
  j["probe_flush"] = probe_flush;
  j["frames_measured"] = log.frames.size();
  j["measured_seconds"] = seconds;
  j["tokens_decoded_while_measured"] = tokens1 - tokens0;
  const double tps = seconds > 0 ? static_cast<double>(tokens1 - tokens0) / seconds : 0.0;
  j["decode_tokens_per_s"] = tps;
  std::vector<double> cpu, verts;
  for (const auto& f : log.frames) cpu.push_back(f.ui_ms + f.render_ms), verts.push_back(static_cast<double>(f.vertices));
  const double p50 = quantile(cpu, 0.5), p95 = quantile(cpu, 0.95), mx = cpu.empty() ? 0.0 : *std::max_element(cpu.begin(), cpu.end());
  j["ui_cpu_ms_per_frame"] = {{"p50", p50}, {"p95", p95}, {"max", mx}, {"what", "NewFrame + every panel + ImGui::Render (no GL)"}};
  j["sustainable_fps"] = {{"at_p50", p50 > 0 ? 1000.0 / p50 : 0.0}, {"at_p95", p95 > 0 ? 1000.0 / p95 : 0.0}};
  // The UI thread's own loop rate over the measured frames (with --fps 0: what it sustained).
  const double loop_fps = seconds > 0 && log.frames.size() > 1 ? static_cast<double>(log.frames.size() - 1) / seconds : 0.0;
  j["ui_thread_fps_measured"] = loop_fps;
  j["vertices_per_frame"] = {{"p50", quantile(verts, 0.5)}, {"max", verts.empty() ? 0.0 : *std::max_element(verts.begin(), verts.end())}};
  j["summary"] = log.summary(false);
  std::printf("skv_studio_frames: %s on %s, backend %s, %zu prompt tokens, display %dx%d, fps cap %.0f, probe %s (flush: %s)\n",
              snap->model.name.c_str(), snap->device.c_str(), snap->backend_name.c_str(), snap->prompt_tokens.size(), width, height,
              fps_cap, snap->probe_level.c_str(), probe_flush.c_str());
  std::printf("  %zu frames over %.1f s (%.0f frames/s) while decoding %zu tokens (%.2f tokens/s)\n", log.frames.size(), seconds, loop_fps,
              tokens1 - tokens0, tps);
  std::printf("  UI CPU per frame (NewFrame + panels + Render): p50 %.3f ms, p95 %.3f ms, max %.3f ms -> %.0f fps sustainable at p50, %.0f at p95\n",
              p50, p95, mx, p50 > 0 ? 1000 / p50 : 0.0, p95 > 0 ? 1000 / p95 : 0.0);
  std::printf("  vertices per frame p50 %.0f, max %.0f; draw commands p50 %.0f\n", quantile(verts, 0.5), j["vertices_per_frame"]["max"].get<double>(),
              j["summary"]["draw_cmds"].value("p50", 0.0));
  std::printf("  per part p50 / p95 ms:");
  for (int p = 0; p < kFrameParts; ++p) {
    const auto& v = j["summary"]["parts_ms"][frame_part_name(p)];
    std::printf("%s %s %.3f / %.3f", p ? "," : "", frame_part_name(p), v.value("p50", 0.0), v.value("p95", 0.0));
  }
  std::printf("\n");
  if (!json_path.empty()) {
    std::ofstream f(json_path);
    f << j.dump(2) << "\n";
    if (!f) {
      std::fprintf(stderr, "skv_studio_frames: cannot write %s\n", json_path.c_str());
      return 1;
    }
    std::printf("  wrote %s\n", json_path.c_str());
  }
  ImGui_ImplNullRender_Shutdown();
  ImGui_ImplNullPlatform_Shutdown();
  ImPlot::DestroyContext();
  ImGui::DestroyContext();
  return log.frames.empty() ? 3 : 0;
}
