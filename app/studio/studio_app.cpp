#include "app/studio/studio_app.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <thread>

#include <GLFW/glfw3.h>
#include <imgui.h>
#include <imgui_impl_glfw.h>
#include <imgui_impl_opengl3.h>
#include <imgui_internal.h>
#include <imgui_te_engine.h>
#include <implot.h>
#include <stb_image_write.h>

#include "app/studio/studio_panels.h"
#include "app/studio/studio_paths.h"
#include "app/studio/session_view.h"

namespace skv::studio {
namespace fs = std::filesystem;

namespace {

std::string glfw_error_text() {
  const char* text = nullptr;
  glfwGetError(&text);
  return text ? text : "unknown GLFW error";
}

using Clock = std::chrono::steady_clock;

// Set by the GLFW input callbacks (installed before ImGui's, which chain to them): a frame must be
// drawn. One window per process.
std::atomic<bool> g_input_seen{true};
void mark_input() { g_input_seen.store(true, std::memory_order_relaxed); }
void install_input_callbacks(GLFWwindow* w) {
  glfwSetCursorPosCallback(w, [](GLFWwindow*, double, double) { mark_input(); });
  glfwSetMouseButtonCallback(w, [](GLFWwindow*, int, int, int) { mark_input(); });
  glfwSetScrollCallback(w, [](GLFWwindow*, double, double) { mark_input(); });
  glfwSetKeyCallback(w, [](GLFWwindow*, int, int, int, int) { mark_input(); });
  glfwSetCharCallback(w, [](GLFWwindow*, unsigned int) { mark_input(); });
  glfwSetWindowFocusCallback(w, [](GLFWwindow*, int) { mark_input(); });
  glfwSetCursorEnterCallback(w, [](GLFWwindow*, int) { mark_input(); });
  glfwSetFramebufferSizeCallback(w, [](GLFWwindow*, int, int) { mark_input(); });
  glfwSetWindowRefreshCallback(w, [](GLFWwindow*) { mark_input(); });
}
double ms_between(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double, std::milli>(b - a).count(); }

}  // namespace

StudioOptions default_options() {
  StudioOptions o;
  default_run(o.run, o.policy);
  return o;
}

bool write_png(const std::string& path, const std::vector<uint8_t>& rgba, int width, int height, std::string* error) {
  if (rgba.size() != static_cast<size_t>(width) * height * 4 || width <= 0 || height <= 0) {
    if (error) *error = "no frame was captured";
    return false;
  }
  std::error_code ec;
  if (fs::path(path).has_parent_path()) fs::create_directories(fs::path(path).parent_path(), ec);
  if (!stbi_write_png(path.c_str(), width, height, 4, rgba.data(), width * 4)) {
    if (error) *error = "cannot write " + path;
    return false;
  }
  return true;
}

StudioApp::StudioApp(StudioOptions options) : options_(std::move(options)) {
  ui_.run.edit = options_.run;
  ui_.run.texts = shipped_texts();
  ui_.run.shape_configs = shipped_shape_configs();
  ui_.run.model_choice = options_.run.model_spec == "default" ? 0 : 1;
  ui_.policy.edit = options_.policy;
  ui_.policy.context_tokens = options_.run.max_new_tokens;
  snap_ = std::make_shared<StudioSnapshot>();
  live_snap_ = snap_;
  probe_ = std::make_shared<probes::ProbeSnapshot>();
}

StudioApp::~StudioApp() {
  worker_.reset();  // stop decoding before the GL context goes
  if (imgui_) {
    ImGui_ImplOpenGL3_Shutdown();
    ImGui_ImplGlfw_Shutdown();
    ImPlot::DestroyContext();
    ImGui::DestroyContext(imgui_);
  }
  if (window_) glfwDestroyWindow(window_);
  glfwTerminate();
}

void StudioApp::init() {
  if (!glfwInit()) throw std::runtime_error("cannot open a window: " + glfw_error_text() + " (is DISPLAY set? under CI use xvfb-run)");
  glfwWindowHint(GLFW_CONTEXT_VERSION_MAJOR, 3);
  glfwWindowHint(GLFW_CONTEXT_VERSION_MINOR, 3);
  glfwWindowHint(GLFW_OPENGL_PROFILE, GLFW_OPENGL_CORE_PROFILE);
  glfwWindowHint(GLFW_SCALE_TO_MONITOR, GLFW_TRUE);
  window_ = glfwCreateWindow(options_.width, options_.height, "SKV Studio", nullptr, nullptr);
  if (!window_) throw std::runtime_error("cannot create an OpenGL 3.3 window: " + glfw_error_text());
  glfwMakeContextCurrent(window_);
  glfwSwapInterval(0);  // we pace frames ourselves (Xvfb has no vsync)
  // Which GL drew the frames (NVIDIA vs Mesa llvmpipe under Xvfb: scripts/gpu_studio_gl.sh reads it).
  const auto* gl_renderer = reinterpret_cast<const char*>(glGetString(GL_RENDERER));
  const auto* gl_version = reinterpret_cast<const char*>(glGetString(GL_VERSION));
  std::fprintf(stderr, "skv-studio: GL_RENDERER %s, GL_VERSION %s\n", gl_renderer ? gl_renderer : "?", gl_version ? gl_version : "?");

  IMGUI_CHECKVERSION();
  imgui_ = ImGui::CreateContext();
  ImPlot::CreateContext();
  ImGuiIO& io = ImGui::GetIO();
  // No keyboard navigation: Space, S and Esc are the run shortcuts, not "activate the focused item".
  io.ConfigFlags |= ImGuiConfigFlags_DockingEnable;
  if (options_.persist_layout) {
    // The dock layout and window sizes persist per user.
    std::error_code ec;
    fs::create_directories(config_dir(), ec);
    ini_path_ = (fs::path(config_dir()) / "layout.ini").string();
    io.IniFilename = ini_path_.c_str();
    host_.saved_layout = fs::exists(ini_path_);
  } else {
    io.IniFilename = nullptr;  // screenshots and tests always start from the default layout
  }

  float scale = options_.scale;
  if (scale <= 0) {
    if (const char* env = std::getenv("SKV_STUDIO_SCALE")) scale = static_cast<float>(std::atof(env));
  }
  if (scale <= 0) {
    float xs = 1, ys = 1;
    glfwGetWindowContentScale(window_, &xs, &ys);
    scale = std::max(1.0f, std::max(xs, ys));
  }
  ui_.dpi_scale = scale;
  setup_studio_style(ui_, scale);
  measure_finish_ = !options_.frame_stats_path.empty();

  install_input_callbacks(window_);
  ImGui_ImplGlfw_InitForOpenGL(window_, true);
  if (!ImGui_ImplOpenGL3_Init("#version 330 core")) throw std::runtime_error("OpenGL 3.3 renderer failed to start");
  worker_ = std::make_unique<StudioWorker>();
  if (!options_.session.empty()) open_session_for_replay(options_.session);
  if (options_.screenshot.size() && options_.run_steps > 0) ui_.run.edit.pause_after_steps = options_.run_steps;
  if (options_.autostart && options_.session.empty()) {
    StudioActions act;
    act.start = true;
    apply(act);
  }
  last_frame_time_ = glfwGetTime();
}

bool StudioApp::open_session_for_replay(const std::string& dir) {
  SessionsState& st = ui_.sessions;
  st.path = dir;
  try {
    st.open = std::make_shared<const OpenSession>(open_session(dir));
    st.replaying = true;
    st.playing = false;
    st.replay_step = st.open->session->steps;
    st.status = "opened " + dir;
    st.status_error = false;
    add_app_message(ui_, MessageLevel::info, "replaying session " + dir);
    return true;
  } catch (const std::exception& e) {
    st.status = std::string("cannot open session: ") + e.what();
    st.status_error = true;
    add_app_message(ui_, MessageLevel::error, st.status);
    return false;
  }
}

void StudioApp::attach_test_engine(ImGuiTestEngine* engine) {
  test_engine_ = engine;
  ImGuiTestEngine_Start(engine, imgui_);
}

void StudioApp::apply(const StudioActions& act) {
  const RunPhase phase = live_snap_->phase;
  const bool busy = worker_->busy() || run_in_progress(phase);
  if (act.start) {
    worker_->start(ui_.run.edit, ui_.policy.edit);
    ui_.dismissed_banners.clear();
  }
  if (act.pause) worker_->pause();
  if (act.resume) worker_->resume();
  if (act.step) {
    if (busy) worker_->single_step();
    else worker_->start(ui_.run.edit, ui_.policy.edit, /*paused=*/true);
  }
  if (act.stop) worker_->stop();
  if (act.reset_layout) host_.layout_built = false;
  SessionsState& ss = ui_.sessions;
  if (ss.open && ss.replaying) {
    const int64_t n = ss.open->session->steps;
    if (act.replay_toggle) {
      if (!ss.playing && ss.replay_step >= n) ss.replay_step = 1;
      ss.playing = !ss.playing;
    }
    if (act.replay_step) {
      ss.playing = false;
      ss.replay_step = std::min<int64_t>(ss.replay_step + 1, n);
    }
  }
  if (act.replay_exit) ss.replaying = ss.playing = false;
}

bool StudioApp::frame() {
  if (host_.quit) glfwSetWindowShouldClose(window_, GLFW_TRUE);
  if (glfwWindowShouldClose(window_)) return false;
  // Block while idle (this machine is shared); poll at up to 60 fps while something changes.
  const bool active = worker_->busy() || (test_engine_ != nullptr) || capture_requested_ || ui_.sessions.playing ||
                      ui_.sessions.export_job != nullptr;
  if (active) glfwPollEvents();
  else glfwWaitEventsTimeout(0.25);
  const bool continuous = options_.continuous || !options_.screenshot.empty() || test_engine_ != nullptr;

  // Where this frame's time goes (frame_stats.h); event waits and the pacing sleep are not in it.
  FrameStats fst;
  const Clock::time_point t0 = Clock::now();
  live_snap_ = worker_->snapshot();
  snap_ = live_snap_;
  probe_ = worker_->probe_snapshot();
  if (!probe_) probe_ = std::make_shared<probes::ProbeSnapshot>();
  SessionsState& ss = ui_.sessions;
  if (ss.open && ss.replaying) {
    // The panels draw the session at the replay step; rebuilt only when the step changes.
    if (!replay_cache_ || replay_cache_src_ != ss.open.get() || replay_cache_step_ != ss.replay_step) {
      replay_cache_ = std::make_shared<const StudioSnapshot>(replay_snapshot(*ss.open, ss.replay_step));
      replay_probe_ = std::make_shared<const probes::ProbeSnapshot>(replay_probe_snapshot(*ss.open, ss.replay_step));
      replay_cache_src_ = ss.open.get();
      replay_cache_step_ = ss.replay_step;
    }
    snap_ = replay_cache_;
    probe_ = replay_probe_;  // the session's stored probe stream, cut at the replay step
  }
  fst.decoding = live_snap_->phase == RunPhase::decoding;
  if (!continuous) {
    // Draw only when the picture can differ: new snapshots, input (and 0.6 s after it, for hover
    // delays and tooltips), a few frames after a change (ImGui settles sizes over 2-3 frames),
    // and twice a second regardless.
    const double now = glfwGetTime();
    if (g_input_seen.exchange(false)) last_input_time_ = now;
    if (live_snap_.get() != drawn_live_ || snap_.get() != drawn_snap_ || probe_.get() != drawn_probe_) settle_frames_ = 3;
    const bool draw = settle_frames_ > 0 || now - last_input_time_ < 0.6 || now - last_draw_time_ > 0.5 || capture_requested_ ||
                      ss.playing || ss.export_job != nullptr || !host_.layout_built;
    if (!draw) {
      glfwWaitEventsTimeout(1.0 / 60.0);  // input wakes the next frame at once
      return true;
    }
    if (settle_frames_ > 0) --settle_frames_;
    last_draw_time_ = now;
  }
  drawn_live_ = live_snap_.get();
  drawn_snap_ = snap_.get();
  drawn_probe_ = probe_.get();
  ++frames_drawn_;
  const Clock::time_point t1 = Clock::now();
  fst.snapshot_ms = ms_between(t0, t1);

  ImGui_ImplOpenGL3_NewFrame();
  ImGui_ImplGlfw_NewFrame();
  ImGui::NewFrame();
  const Clock::time_point t2 = Clock::now();
  fst.new_frame_ms = ms_between(t1, t2);

  StudioActions act;
  draw_studio_frame(ui_, host_, *snap_, *live_snap_, *probe_, act, &fst);
  const Clock::time_point t3 = Clock::now();
  apply(act);
  worker_->set_focus(ui_.tier_map.layer, ui_.tier_map.head, ui_.error_map.layer, ui_.error_map.head);
  const Clock::time_point t4 = Clock::now();
  fst.part_ms[kFrameParts - 1] += ms_between(t3, t4);
  fst.ui_ms = ms_between(t1, t4);

  ImGui::Render();
  const Clock::time_point t5 = Clock::now();
  fst.render_ms = ms_between(t4, t5);
  count_draw_data(ImGui::GetDrawData(), fst);
  int w = 0, h = 0;
  glfwGetFramebufferSize(window_, &w, &h);
  glViewport(0, 0, w, h);
  // The host window and docked panels draw no background (studio_frame.cpp): the clear colour is
  // the window background.
  const ImVec4 bg = ImGui::GetStyleColorVec4(ImGuiCol_WindowBg);
  glClearColor(bg.x, bg.y, bg.z, 1.0f);
  glClear(GL_COLOR_BUFFER_BIT);
  ImGui_ImplOpenGL3_RenderDrawData(ImGui::GetDrawData());
  const Clock::time_point t6 = Clock::now();
  fst.submit_ms = ms_between(t5, t6);
  if (measure_finish_) glFinish();
  const Clock::time_point t7 = Clock::now();
  fst.finish_ms = ms_between(t6, t7);
  if (capture_requested_) {
    // Read the back buffer we just drew, before it is presented; GL's rows run bottom-up.
    captured_.assign(static_cast<size_t>(w) * h * 4, 0);
    glPixelStorei(GL_PACK_ALIGNMENT, 1);
    glReadBuffer(GL_BACK);
    glReadPixels(0, 0, w, h, GL_RGBA, GL_UNSIGNED_BYTE, captured_.data());
    for (int y = 0; y < h / 2; ++y)
      std::swap_ranges(captured_.begin() + static_cast<std::ptrdiff_t>(y) * w * 4, captured_.begin() + static_cast<std::ptrdiff_t>(y + 1) * w * 4,
                       captured_.begin() + static_cast<std::ptrdiff_t>(h - 1 - y) * w * 4);
    captured_w_ = w;
    captured_h_ = h;
    capture_requested_ = false;
  }
  const Clock::time_point t8 = Clock::now();
  fst.readback_ms = ms_between(t7, t8);
  if (test_engine_) ImGuiTestEngine_PreSwap(test_engine_);
  glfwSwapBuffers(window_);
  if (test_engine_) ImGuiTestEngine_PostSwap(test_engine_);
  const Clock::time_point t9 = Clock::now();
  fst.swap_ms = ms_between(t8, t9);
  fst.frame_ms = ms_between(t0, t9);
  ui_.frame_log.add(fst);

  // Pace to 60 fps; measure what we got.
  const double now = glfwGetTime();
  const double spent = now - last_frame_time_;
  if (spent < 1.0 / 60.0 && test_engine_ == nullptr) std::this_thread::sleep_for(std::chrono::duration<double>(1.0 / 60.0 - spent));
  const double dt = glfwGetTime() - last_frame_time_;
  last_frame_time_ = glfwGetTime();
  if (dt > 0) ui_.fps = ui_.fps == 0 ? 1.0 / dt : 0.9 * ui_.fps + 0.1 / dt;
  return true;
}

bool StudioApp::write_frame_stats(int decode_frames, double decode_s) const {
  // What --frame-stats prints and writes: the frames drawn while the live run decoded (all frames
  // when none did, e.g. a replay), each part's p50 / p95 / max.
  const FrameStatsLog& log = ui_.frame_log;
  const bool decoding_only = decode_frames > 1;
  nlohmann::json j;
  j["tool"] = "skv-studio --screenshot --frame-stats";
  const auto gl_string = [](GLenum what) {
    const auto* p = reinterpret_cast<const char*>(glGetString(what));
    return std::string(p ? p : "");
  };
  j["gl_renderer"] = gl_string(GL_RENDERER);
  j["gl_version"] = gl_string(GL_VERSION);
  int fw = 0, fh = 0;
  glfwGetFramebufferSize(window_, &fw, &fh);
  j["framebuffer"] = {fw, fh};
  j["glfinish_measured"] = measure_finish_;
  j["model"] = snap_->model.name;
  j["backend"] = snap_->backend_name;
  j["device"] = snap_->device;
  j["tokens"] = snap_->tokens.size();
  j["prompt_tokens"] = snap_->prompt_tokens.size();
  j["decode_frames"] = decode_frames;
  j["decode_seconds"] = decode_s;
  j["decode_fps"] = decode_frames > 1 && decode_s > 0 ? (decode_frames - 1) / decode_s : 0.0;
  j["frames_counted"] = decoding_only ? "while decoding" : "all";
  j["summary"] = log.summary(decoding_only);
  const nlohmann::json& sm = j["summary"];
  auto p50 = [&](const char* key) { return sm.contains(key) && sm[key].contains("p50") ? sm[key]["p50"].get<double>() : 0.0; };
  std::fprintf(stderr, "skv-studio: frame stats over %lld frames (%s), p50 ms: UI build %.2f, ImGui::Render %.2f, GL submit %.2f, "
               "glFinish %.2f, swap %.2f, frame %.2f; %.0f vertices, %.0f draw commands\n",
               static_cast<long long>(sm.value("frames", int64_t{0})), decoding_only ? "while decoding" : "all", p50("ui_ms"),
               p50("render_ms"), p50("submit_ms"), p50("finish_ms"), p50("swap_ms"), p50("frame_ms"), p50("vertices"), p50("draw_cmds"));
  std::string parts;
  for (int p = 0; p < kFrameParts; ++p) {
    const auto& v = sm["parts_ms"][frame_part_name(p)];
    char buf[96];
    std::snprintf(buf, sizeof buf, "%s%s %.2f", p ? ", " : "", frame_part_name(p), v.contains("p50") ? v["p50"].get<double>() : 0.0);
    parts += buf;
  }
  std::fprintf(stderr, "skv-studio: UI parts p50 ms: %s\n", parts.c_str());
  std::error_code ec;
  const fs::path out(options_.frame_stats_path);
  if (out.has_parent_path()) fs::create_directories(out.parent_path(), ec);
  std::ofstream f(out);
  f << j.dump(2) << "\n";
  if (!f) {
    std::fprintf(stderr, "skv-studio: cannot write %s\n", options_.frame_stats_path.c_str());
    return false;
  }
  std::fprintf(stderr, "skv-studio: wrote %s\n", options_.frame_stats_path.c_str());
  return true;
}

PanelRect StudioApp::panel_rect(const char* name) const {
  PanelRect r;
  const ImGuiWindow* win = ImGui::FindWindowByName(name);
  if (!win) return r;
  r.found = true;
  r.visible = win->WasActive && !win->Hidden && (win->DockNode == nullptr || win->DockTabIsVisible);
  const float sx = ImGui::GetIO().DisplayFramebufferScale.x, sy = ImGui::GetIO().DisplayFramebufferScale.y;
  r.x = static_cast<int>(win->Pos.x * sx);
  r.y = static_cast<int>(win->Pos.y * sy);
  r.w = static_cast<int>(win->Size.x * sx);
  r.h = static_cast<int>(win->Size.y * sy);
  return r;
}

int StudioApp::run() {
  if (options_.screenshot.empty()) {
    while (frame()) {
    }
    return 0;
  }
  // Screenshot mode: decode run_steps tokens (or until the run ends), let the plots settle for a
  // few frames, then read the framebuffer back.
  const double t_end = glfwGetTime() + options_.timeout_s;
  int settle = -1;
  // Frame rate while tokens are being decoded (for docs/STUDIO.md: what this machine achieves).
  int decode_frames = 0;
  double decode_t0 = -1, decode_t1 = -1;
  while (frame()) {
    const auto& s = *snap_;
    if (s.phase == RunPhase::decoding) {
      if (decode_t0 < 0) decode_t0 = glfwGetTime();
      ++decode_frames;
      decode_t1 = glfwGetTime();
    }
    const bool done = !options_.session.empty() || s.phase == RunPhase::finished || s.phase == RunPhase::stopped ||
                      s.phase == RunPhase::failed ||
                      (options_.run_steps > 0 && static_cast<int>(s.tokens.size()) >= options_.run_steps && s.phase == RunPhase::paused) ||
                      (!options_.autostart && s.phase == RunPhase::idle);
    if (settle < 0 && (done || glfwGetTime() > t_end)) settle = 4;
    if (settle == 1) capture_next_frame();
    if (settle == 0) break;
    if (settle > 0) --settle;
  }
  std::string error;
  if (!write_png(options_.screenshot, captured_, captured_w_, captured_h_, &error)) {
    std::fprintf(stderr, "skv-studio: %s\n", error.c_str());
    return 1;
  }
  std::fprintf(stderr, "skv-studio: wrote %s (%dx%d, %zu tokens, %s)\n", options_.screenshot.c_str(), captured_w_, captured_h_,
               snap_->tokens.size(), phase_label(snap_->phase));
  if (decode_frames > 1 && decode_t1 > decode_t0)
    std::fprintf(stderr, "skv-studio: %d frames in %.1f s while decoding (%.1f fps)\n", decode_frames, decode_t1 - decode_t0,
                 (decode_frames - 1) / (decode_t1 - decode_t0));
  if (!options_.frame_stats_path.empty() && !write_frame_stats(decode_frames, decode_t1 - decode_t0)) return 1;
  if (options_.session.empty() && snap_->phase == RunPhase::failed) {
    std::fprintf(stderr, "skv-studio: run failed: %s\n", snap_->phase_detail.c_str());
    return 2;
  }
  if (!options_.session.empty() && !ui_.sessions.open) {
    std::fprintf(stderr, "skv-studio: %s\n", ui_.sessions.status.c_str());
    return 2;
  }
  if (glfwGetTime() > t_end) {
    std::fprintf(stderr, "skv-studio: timed out after %.0f s\n", options_.timeout_s);
    return 3;
  }
  return 0;
}

}  // namespace skv::studio
