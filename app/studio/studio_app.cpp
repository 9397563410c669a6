#include "app/studio/studio_app.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
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

void add_app_message(StudioUi& ui, MessageLevel level, std::string text) {
  ui.app_messages.push_back(StudioMessage{level, std::move(text), glfwGetTime()});
}

bool run_in_progress(RunPhase p) {
  return p == RunPhase::loading || p == RunPhase::prefill || p == RunPhase::decoding || p == RunPhase::paused;
}

}  // namespace

StudioOptions default_options() {
  StudioOptions o;
  o.run.model_spec = "default";
  const auto texts = shipped_texts();
  if (!texts.empty()) {
    o.run.prompt_source = PromptSource::file;
    o.run.prompt_file = texts.front();
  } else {
    o.run.prompt_source = PromptSource::text;
  }
  o.run.prompt_text = builtin_prompt();
  o.policy.kind = kRdrInBuild ? PolicyKind::rdr : PolicyKind::dense;
  o.policy.budget_percent = 25.0f;
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
  setup_style(scale);

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

void StudioApp::setup_style(float scale) {
  ImGuiIO& io = ImGui::GetIO();
  ImGui::StyleColorsDark();
  ImGuiStyle& style = ImGui::GetStyle();
  style.WindowRounding = 4.0f;
  style.FrameRounding = 3.0f;
  style.TabRounding = 3.0f;
  style.GrabRounding = 3.0f;
  style.ScaleAllSizes(scale);
  style.FontScaleDpi = scale;
  style.FontSizeBase = 15.0f;
  const std::string font = find_dejavu_sans();
  if (!font.empty() && io.Fonts->AddFontFromFileTTF(font.c_str(), 15.0f)) return;
  io.Fonts->AddFontDefault();
  add_app_message(ui_, MessageLevel::warning, "DejaVu Sans not found (install fonts-dejavu-core): using ImGui's built-in font");
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
  if (act.reset_layout) layout_built_ = false;
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

void StudioApp::handle_shortcuts(StudioActions& act) {
  const ImGuiIO& io = ImGui::GetIO();
  if (io.WantTextInput) return;  // typing a prompt must not start runs
  if (ui_.sessions.open && ui_.sessions.replaying) {
    // Replaying a session: the same keys drive the replay (Esc returns to the live run).
    if (ImGui::IsKeyPressed(ImGuiKey_Space, false)) act.replay_toggle = true;
    if (ImGui::IsKeyPressed(ImGuiKey_S, false)) act.replay_step = true;
    if (ImGui::IsKeyPressed(ImGuiKey_Escape, false)) act.replay_exit = true;
    return;
  }
  const RunPhase phase = live_snap_->phase;
  if (ImGui::IsKeyPressed(ImGuiKey_Space, false)) {
    if (phase == RunPhase::paused) act.resume = true;
    else if (run_in_progress(phase)) act.pause = true;
    else act.start = true;
  }
  if (ImGui::IsKeyPressed(ImGuiKey_S, false)) act.step = true;
  if (ImGui::IsKeyPressed(ImGuiKey_Escape, false)) act.stop = true;
}

void StudioApp::build_default_layout(unsigned int dockspace_id) {
  ImGui::DockBuilderRemoveNode(dockspace_id);
  ImGui::DockBuilderAddNode(dockspace_id, ImGuiDockNodeFlags_DockSpace);
  ImGui::DockBuilderSetNodeSize(dockspace_id, ImGui::GetMainViewport()->WorkSize);
  ImGuiID left, rest, right, center, center_bottom, right_mid, right_bottom, left_bottom;
  ImGui::DockBuilderSplitNode(dockspace_id, ImGuiDir_Left, 0.24f, &left, &rest);
  ImGui::DockBuilderSplitNode(rest, ImGuiDir_Right, 0.36f, &right, &center);
  ImGui::DockBuilderSplitNode(center, ImGuiDir_Down, 0.38f, &center_bottom, &center);
  ImGui::DockBuilderSplitNode(right, ImGuiDir_Down, 0.62f, &right_mid, &right);
  ImGui::DockBuilderSplitNode(right_mid, ImGuiDir_Down, 0.45f, &right_bottom, &right_mid);
  ImGui::DockBuilderSplitNode(left, ImGuiDir_Down, 0.16f, &left_bottom, &left);
  ImGui::DockBuilderDockWindow(kRunPanel, left);
  ImGui::DockBuilderDockWindow(kPolicyPanel, left);
  ImGui::DockBuilderDockWindow(kMessagesPanel, left_bottom);
  ImGui::DockBuilderDockWindow(kPlotsPanel, center);
  ImGui::DockBuilderDockWindow(kTokensPanel, center_bottom);
  ImGui::DockBuilderDockWindow(kTierMapPanel, right);
  ImGui::DockBuilderDockWindow(kErrorPanel, right_mid);
  ImGui::DockBuilderDockWindow(kKernelsPanel, right_bottom);
  ImGui::DockBuilderDockWindow(kSessionsPanel, right_bottom);
  ImGui::DockBuilderFinish(dockspace_id);
}

void StudioApp::draw_host_and_banner(StudioActions& act) {
  const ImGuiViewport* vp = ImGui::GetMainViewport();
  ImGui::SetNextWindowPos(vp->WorkPos);
  ImGui::SetNextWindowSize(vp->WorkSize);
  ImGui::SetNextWindowViewport(vp->ID);
  ImGui::PushStyleVar(ImGuiStyleVar_WindowRounding, 0.0f);
  ImGui::PushStyleVar(ImGuiStyleVar_WindowBorderSize, 0.0f);
  ImGui::PushStyleVar(ImGuiStyleVar_WindowPadding, ImVec2(0, 0));
  const ImGuiWindowFlags host_flags = ImGuiWindowFlags_NoDecoration | ImGuiWindowFlags_NoDocking | ImGuiWindowFlags_MenuBar |
                                      ImGuiWindowFlags_NoBringToFrontOnFocus | ImGuiWindowFlags_NoNavFocus |
                                      ImGuiWindowFlags_NoSavedSettings;
  ImGui::Begin("##studio_host", nullptr, host_flags);
  ImGui::PopStyleVar(3);

  if (ImGui::BeginMenuBar()) {
    if (ImGui::BeginMenu("Run")) {
      if (ImGui::MenuItem("Run / pause", "Space")) {
        const RunPhase p = live_snap_->phase;
        if (p == RunPhase::paused) act.resume = true;
        else if (run_in_progress(p)) act.pause = true;
        else act.start = true;
      }
      if (ImGui::MenuItem("Single step", "S")) act.step = true;
      if (ImGui::MenuItem("Stop", "Esc")) act.stop = true;
      ImGui::Separator();
      if (ImGui::MenuItem("Quit")) glfwSetWindowShouldClose(window_, GLFW_TRUE);
      ImGui::EndMenu();
    }
    if (ImGui::BeginMenu("View")) {
      if (ImGui::MenuItem("Reset layout")) act.reset_layout = true;
      ImGui::EndMenu();
    }
    if (ImGui::BeginMenu("Help")) {
      ImGui::TextUnformatted("Space: run / pause    S: single step    Esc: stop");
      ImGui::TextUnformatted("While replaying a session: Space play / pause, S next step, Esc back to the live run.");
      ImGui::TextUnformatted("Hover any control for what it does.");
      ImGui::EndMenu();
    }
    ImGui::EndMenuBar();
  }

  // Banners: things the user must know now. Each can be dismissed; a new run brings them back.
  struct Banner {
    MessageLevel level;
    std::string text;
  };
  std::vector<Banner> banners;
  if (!kRdrInBuild && (snap_->policy_fallback || ui_.policy.edit.kind == PolicyKind::dense))
    banners.push_back({MessageLevel::warning, "RDR backend not available in this build: running the dense cache (every token kept)."});
  if (live_snap_->phase == RunPhase::failed) banners.push_back({MessageLevel::error, "Run failed: " + live_snap_->phase_detail});
  for (const auto& m : ui_.app_messages)
    if (m.level == MessageLevel::error) banners.push_back({m.level, m.text});
  for (const auto& s : probe_->statuses)
    if (s.level != probes::StatusLevel::info) banners.push_back({MessageLevel::warning, std::string("Probe: ") + s.message.text});
  ImGui::SetCursorPosX(ImGui::GetStyle().WindowPadding.x + 6);
  for (const auto& b : banners) {
    if (std::find(ui_.dismissed_banners.begin(), ui_.dismissed_banners.end(), b.text) != ui_.dismissed_banners.end()) continue;
    const ImVec4 bg = b.level == MessageLevel::error ? ImVec4(0.55f, 0.12f, 0.12f, 1) : ImVec4(0.45f, 0.35f, 0.08f, 1);
    const ImVec2 p = ImGui::GetCursorScreenPos();
    const float h = ImGui::GetFrameHeight();
    ImGui::GetWindowDrawList()->AddRectFilled(ImVec2(vp->WorkPos.x, p.y), ImVec2(vp->WorkPos.x + vp->WorkSize.x, p.y + h), ImGui::GetColorU32(bg));
    ImGui::PushID(b.text.c_str());
    ImGui::SetCursorScreenPos(ImVec2(vp->WorkPos.x + 8, p.y));
    if (ImGui::SmallButton("x")) ui_.dismissed_banners.push_back(b.text);
    help_tooltip("Dismiss this banner (it comes back with the next run if still true).");
    ImGui::SameLine();
    ImGui::AlignTextToFramePadding();
    ImGui::TextUnformatted(b.text.c_str());
    ImGui::PopID();
  }

  const float status_h = ImGui::GetFrameHeight();
  const ImGuiID dock_id = ImGui::GetID("studio_dockspace");
  if (!layout_built_) {
    // A saved layout wins; otherwise (and on "Reset layout") build the default one.
    ImGuiDockNode* node = ImGui::DockBuilderGetNode(dock_id);
    if (node == nullptr || node->IsLeafNode() || act.reset_layout || ini_path_.empty() || !fs::exists(ini_path_)) build_default_layout(dock_id);
    layout_built_ = true;
  }
  ImGui::DockSpace(dock_id, ImVec2(0, -status_h), ImGuiDockNodeFlags_None);

  // Status bar.
  ImGui::SetCursorPosX(8);
  const auto& s = *snap_;
  const double tps = s.series.tokens_per_s.empty() ? 0.0 : s.series.tokens_per_s.back();
  ImGui::AlignTextToFramePadding();
  if (s.replay) {
    ImGui::TextColored(ImVec4(0.45f, 0.8f, 1.0f, 1.0f), "REPLAY %s  step %lld / %lld  |", ui_.sessions.open ? ui_.sessions.open->label.c_str() : "",
                       static_cast<long long>(s.replay_step), static_cast<long long>(s.replay_steps));
    ImGui::SameLine();
  }
  ImGui::Text("%s  |  %s  |  %s  |  %zu tokens  |  %.1f tokens/s  |  backend %s  |  %.0f fps", phase_label(s.phase),
              s.model.name.empty() ? s.settings.model_spec.c_str() : s.model.name.c_str(), s.device.empty() ? "-" : s.device.c_str(),
              s.tokens.size(), tps, s.backend_name.empty() ? "-" : s.backend_name.c_str(), ui_.fps);
  ImGui::End();
}

bool StudioApp::frame() {
  if (glfwWindowShouldClose(window_)) return false;
  // Block while idle (this machine is shared); poll at up to 60 fps while something changes.
  const bool active = worker_->busy() || (test_engine_ != nullptr) || capture_requested_ || ui_.sessions.playing ||
                      ui_.sessions.export_job != nullptr;
  if (active) glfwPollEvents();
  else glfwWaitEventsTimeout(0.25);

  live_snap_ = worker_->snapshot();
  snap_ = live_snap_;
  probe_ = worker_->probe_snapshot();
  if (!probe_) probe_ = std::make_shared<probes::ProbeSnapshot>();
  SessionsState& ss = ui_.sessions;
  if (ss.open && ss.replaying) {
    // The panels draw the session at the replay step; rebuilt only when the step changes.
    if (!replay_cache_ || replay_cache_src_ != ss.open.get() || replay_cache_step_ != ss.replay_step) {
      replay_cache_ = std::make_shared<const StudioSnapshot>(replay_snapshot(*ss.open, ss.replay_step));
      replay_cache_src_ = ss.open.get();
      replay_cache_step_ = ss.replay_step;
    }
    snap_ = replay_cache_;
    static const auto no_probe = std::make_shared<const probes::ProbeSnapshot>();
    probe_ = no_probe;  // the session's bytes come from its series
  }

  ImGui_ImplOpenGL3_NewFrame();
  ImGui_ImplGlfw_NewFrame();
  ImGui::NewFrame();

  StudioActions act;
  draw_host_and_banner(act);
  draw_run_panel(ui_.run, *snap_, act);
  draw_policy_panel(ui_.policy, *snap_);
  draw_plots_panel(ui_.plots, *snap_, *probe_);
  draw_tier_map_panel(ui_.tier_map, *snap_);
  draw_attention_error_panel(ui_.error_map, *snap_);
  draw_tokens_panel(ui_.tokens, *snap_);
  draw_kernels_panel(ui_.kernels, *snap_, *probe_);
  draw_sessions_panel(ui_.sessions, *live_snap_);
  for (auto& [level, text] : ui_.sessions.outbox) add_app_message(ui_, level, std::move(text));
  ui_.sessions.outbox.clear();
  draw_messages_panel(ui_, *snap_, *probe_);
  handle_shortcuts(act);
  apply(act);
  worker_->set_focus(ui_.tier_map.layer, ui_.tier_map.head, ui_.error_map.layer, ui_.error_map.head);

  ImGui::Render();
  int w = 0, h = 0;
  glfwGetFramebufferSize(window_, &w, &h);
  glViewport(0, 0, w, h);
  glClearColor(0.08f, 0.08f, 0.09f, 1.0f);
  glClear(GL_COLOR_BUFFER_BIT);
  ImGui_ImplOpenGL3_RenderDrawData(ImGui::GetDrawData());
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
  if (test_engine_) ImGuiTestEngine_PreSwap(test_engine_);
  glfwSwapBuffers(window_);
  if (test_engine_) ImGuiTestEngine_PostSwap(test_engine_);

  // Pace to 60 fps; measure what we got.
  const double now = glfwGetTime();
  const double spent = now - last_frame_time_;
  if (spent < 1.0 / 60.0 && test_engine_ == nullptr) std::this_thread::sleep_for(std::chrono::duration<double>(1.0 / 60.0 - spent));
  const double dt = glfwGetTime() - last_frame_time_;
  last_frame_time_ = glfwGetTime();
  if (dt > 0) ui_.fps = ui_.fps == 0 ? 1.0 / dt : 0.9 * ui_.fps + 0.1 / dt;
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
