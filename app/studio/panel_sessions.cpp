// Sessions: open a saved session (core/sessions' reader), replay it through every panel, compare
// it with a second one (overlaid series and a metric table), and export a report of it or of the
// live run (core/reports' write_report, what `skv report SESSION --out DIR` writes).
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <future>

#include <imgui.h>
#include <implot.h>

#include "app/studio/session_view.h"
#include "app/studio/studio_panels.h"
#include "app/studio/studio_paths.h"
#include "core/reports/report.h"

namespace skv::studio {
namespace fs = std::filesystem;

struct ExportJob {
  std::string session_dir, out_dir;
  std::future<ReportFiles> result;
};

namespace {

void set_status(SessionsState& st, bool error, std::string text) {
  st.status = std::move(text);
  st.status_error = error;
  st.outbox.emplace_back(error ? MessageLevel::error : MessageLevel::info, st.status);
}

void scan_sessions(SessionsState& st) {
  st.found.clear();
  std::vector<std::pair<fs::file_time_type, std::string>> dirs;
  std::error_code ec;
  for (fs::directory_iterator it(sessions_dir(), ec), end; !ec && it != end; it.increment(ec))
    if (it->is_directory() && is_session_dir(it->path())) dirs.emplace_back(fs::last_write_time(it->path() / "manifest.json", ec), it->path().string());
  std::sort(dirs.begin(), dirs.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  for (auto& d : dirs) st.found.push_back(std::move(d.second));
  st.scanned = true;
}

// Opens `dir`; on failure the reader's message (which file, what is wrong) goes to the panel and
// to Messages, and the session already open stays.
std::shared_ptr<const OpenSession> try_open(SessionsState& st, const std::string& dir) {
  try {
    auto s = std::make_shared<const OpenSession>(open_session(dir));
    set_status(st, false, "opened " + dir + " (" + std::to_string(s->session->steps) + " steps" +
                              (s->session->complete ? "" : ", incomplete: the run was cut off or is still recording") + ")");
    return s;
  } catch (const std::exception& e) {
    set_status(st, true, std::string("cannot open session: ") + e.what());
    return nullptr;
  }
}

std::string default_export_dir(const std::string& session_dir) {
  fs::path p(session_dir);
  if (p.filename().empty()) p = p.parent_path();
  return (p.parent_path() / (p.filename().string() + "-report")).string();
}

void start_export(SessionsState& st, const std::string& session_dir) {
  auto job = std::make_shared<ExportJob>();
  job->session_dir = session_dir;
  job->out_dir = st.export_dir.empty() ? default_export_dir(session_dir) : st.export_dir;
  // On its own thread: rasterizing the figures takes a moment and the GUI must keep drawing.
  job->result = std::async(std::launch::async, [dir = job->session_dir, out = job->out_dir] {
    return write_report(std::vector<fs::path>{fs::path(dir)}, fs::path(out));
  });
  st.export_job = job;
  st.exported.clear();
  st.status = "exporting " + session_dir + " to " + job->out_dir + " ...";
  st.status_error = false;
}

void poll_export(SessionsState& st) {
  if (!st.export_job || st.export_job->result.wait_for(std::chrono::seconds(0)) != std::future_status::ready) return;
  auto job = std::move(st.export_job);
  try {
    ReportFiles f = job->result.get();
    st.exported.clear();
    for (const auto& p : {f.markdown, f.html, f.latex})
      if (!p.empty()) st.exported.push_back(p.string());
    for (const auto& p : f.figures) st.exported.push_back(p.string());
    for (const auto& p : f.csv) st.exported.push_back(p.string());
    set_status(st, false, "exported " + std::to_string(st.exported.size()) + " files to " + job->out_dir);
    for (const auto& w : f.warnings) st.outbox.emplace_back(MessageLevel::warning, "report: " + w);
  } catch (const std::exception& e) {
    set_status(st, true, std::string("export failed: ") + e.what());
  }
}

std::string num(double v, const char* fmt = "%.4g") {
  if (!std::isfinite(v)) return "-";
  char b[64];
  std::snprintf(b, sizeof b, fmt, v);
  return b;
}

void metric_table(SessionsState& st, const std::vector<SessionMetrics>& ms) {
  st.table.clear();
  const int cols = 1 + static_cast<int>(ms.size());
  if (!ImGui::BeginTable("compare_table", cols, ImGuiTableFlags_Borders | ImGuiTableFlags_RowBg | ImGuiTableFlags_SizingStretchProp)) return;
  ImGui::TableSetupColumn("metric");
  for (size_t i = 0; i < ms.size(); ++i) ImGui::TableSetupColumn((std::string(i == 0 ? "A: " : "B: ") + ms[i].label).c_str());
  ImGui::TableHeadersRow();
  auto row = [&](const char* name, const char* tip, auto cell) {
    ImGui::TableNextRow();
    ImGui::TableNextColumn();
    ImGui::TextUnformatted(name);
    help_tooltip(tip);
    st.table.push_back({name});
    for (const auto& m : ms) {
      ImGui::TableNextColumn();
      st.table.back().push_back(cell(m));
      ImGui::TextUnformatted(st.table.back().back().c_str());
    }
  };
  row("policy", "The retention policy and budget the session ran.", [](const SessionMetrics& m) { return m.policy; });
  row("model", "Model name from the session's manifest.", [](const SessionMetrics& m) { return m.model; });
  row("device", "Where it ran.", [](const SessionMetrics& m) { return m.device; });
  row("steps", "Decode steps recorded.", [](const SessionMetrics& m) { return std::to_string(m.steps) + (m.complete ? "" : " (incomplete)"); });
  row("prefill ms", "Prompt prefill time.", [](const SessionMetrics& m) { return num(m.prefill_ms, "%.1f"); });
  row("latency ms/step", "Mean decode-step latency (steps after the first).", [](const SessionMetrics& m) { return num(m.latency_ms, "%.2f"); });
  row("tokens/s", "1000 / mean latency.", [](const SessionMetrics& m) { return num(m.tokens_per_s, "%.2f"); });
  row("KL (nats)", "Mean KL(full || compressed) of the next-token distribution.", [](const SessionMetrics& m) { return num(m.kl); });
  row("top-1 agreement", "Share of steps whose argmax agrees with the full cache.", [](const SessionMetrics& m) { return num(m.top1, "%.3f"); });
  row("resident KV", "Mean resident KV bytes.", [](const SessionMetrics& m) { return std::isfinite(m.resident_bytes) ? format_bytes(m.resident_bytes) : "-"; });
  row("resident / full fp16", "Mean resident bytes over a full fp16 cache of the same tokens.", [](const SessionMetrics& m) { return num(m.resident_fraction, "%.3f"); });
  row("attention error", "Mean attention-output relative error over (layer, head).", [](const SessionMetrics& m) { return num(m.attn_error); });
  ImGui::EndTable();
}

void overlay_plot(const char* title, const char* series, const char* unit, const OpenSession& a, const OpenSession* b, float h) {
  const auto va = session_series(a, series);
  const auto vb = b ? session_series(*b, series) : std::vector<double>{};
  if (va.empty() && vb.empty()) return;
  if (!ImPlot::BeginPlot(title, ImVec2(-1, h))) return;
  ImPlot::SetupAxes("step", unit, ImPlotAxisFlags_AutoFit, ImPlotAxisFlags_AutoFit);
  // Step 0's latency is the prefill: start at 1 so the decode steps stay readable.
  const int first = std::string(series) == "latency_ms" ? 1 : 0;
  auto line = [&](const std::string& label, const std::vector<double>& v) {
    if (static_cast<int>(v.size()) <= first) return;
    std::vector<double> xs;
    for (size_t i = static_cast<size_t>(first); i < v.size(); ++i) xs.push_back(static_cast<double>(i));
    ImPlot::PlotLine(label.c_str(), xs.data(), v.data() + first, static_cast<int>(xs.size()));
  };
  line("A: " + a.label, va);
  if (b) line("B: " + b->label, vb);
  ImPlot::EndPlot();
}

void path_row(SessionsState& st, const char* id, std::string& path, int target, const char* tip) {
  ImGui::PushID(id);
  char buf[1024];
  std::snprintf(buf, sizeof buf, "%s", path.c_str());
  ImGui::SetNextItemWidth(-ImGui::GetFontSize() * 5);
  if (ImGui::InputTextWithHint("##path", "session folder (holds manifest.json)", buf, sizeof buf)) path = buf;
  help_tooltip(tip);
  ImGui::SameLine();
  if (ImGui::Button("Browse")) {
    st.picker.open = true;
    st.picker.title = target == 0 ? "Pick a session's manifest.json" : "Pick the session to compare (manifest.json)";
    st.picker.extensions = {".json"};
    st.picker.directory = path.empty() ? sessions_dir() : fs::path(path).parent_path().string();
    st.picker_target = target;
  }
  help_tooltip("Browse for a session folder: pick its manifest.json.");
  ImGui::PopID();
}

}  // namespace

void draw_sessions_panel(SessionsState& st, const StudioSnapshot& live) {
  poll_export(st);
  if (!ImGui::Begin(kSessionsPanel)) {
    ImGui::End();
    return;
  }
  if (!st.scanned) scan_sessions(st);

  // ---- Open --------------------------------------------------------------------------------
  ImGui::SeparatorText("Open");
  path_row(st, "open", st.path, 0, "A recorded session: `skv record --out DIR` or a Studio run (every live run is recorded).");
  if (ImGui::Button("Open")) {
    if (auto s = try_open(st, st.path)) {
      st.open = s;
      st.replaying = true;
      st.replay_step = s->session->steps;
      st.playing = false;
    }
  }
  help_tooltip("Open the session and replay it: every panel shows its data at the chosen step.");
  ImGui::SameLine();
  ImGui::BeginDisabled(live.session_dir.empty());
  if (ImGui::Button("Open live run's session")) {
    st.path = live.session_dir;
    if (auto s = try_open(st, st.path)) {
      st.open = s;
      st.replaying = true;
      st.replay_step = s->session->steps;
    }
  }
  help_tooltip(live.session_dir.empty() ? "No run recorded yet." : ("The live run is recorded to " + live.session_dir).c_str());
  ImGui::EndDisabled();
  ImGui::SameLine();
  if (ImGui::Button("Refresh")) scan_sessions(st);
  help_tooltip(("Look again for sessions under " + sessions_dir()).c_str());
  if (!st.found.empty()) {
    ImGui::SetNextItemWidth(-FLT_MIN);
    if (ImGui::BeginCombo("##found", "recorded sessions...")) {
      for (const auto& d : st.found)
        if (ImGui::Selectable(fs::path(d).filename().string().c_str(), d == st.path)) st.path = d;
      ImGui::EndCombo();
    }
    help_tooltip(("Sessions found under " + sessions_dir() + ", newest first.").c_str());
  }
  if (draw_file_picker(st.picker) && st.picker.picked) {
    const std::string dir = fs::path(st.picker.selected).parent_path().string();
    (st.picker_target == 0 ? st.path : st.compare_path) = dir;
    st.picker.open = false;
  }

  // ---- Replay ------------------------------------------------------------------------------
  if (st.open) {
    const Session& s = *st.open->session;
    ImGui::SeparatorText("Replay");
    ImGui::TextWrapped("%s: %s, %s, %lld steps%s", st.open->label.c_str(), s.model.name.c_str(),
                       session_metrics(*st.open).policy.c_str(), static_cast<long long>(s.steps), s.complete ? "" : " (incomplete)");
    if (ImGui::Checkbox("show in the panels", &st.replaying)) st.playing = false;
    help_tooltip("On: plots, tier map, attention error and tokens show this session at the replay step (Space plays, S steps, "
                 "Esc returns to the live run). Off: they show the live run.");
    if (st.replaying && s.steps > 0) {
      ImGui::SameLine();
      if (ImGui::Button(st.playing ? "Pause##replay" : "Play##replay")) {
        if (!st.playing && st.replay_step >= s.steps) st.replay_step = 1;
        st.playing = !st.playing;
      }
      help_tooltip("Play the session step by step (Space).");
      ImGui::SameLine();
      if (ImGui::Button("Step##replay")) st.replay_step = std::min<int64_t>(st.replay_step + 1, s.steps), st.playing = false;
      help_tooltip("One step forward (S).");
      int step = static_cast<int>(st.replay_step);
      ImGui::SetNextItemWidth(-ImGui::GetFontSize() * 9);
      if (ImGui::SliderInt("##replay_step", &step, 1, static_cast<int>(std::max<int64_t>(1, s.steps)), "step %d")) {
        st.replay_step = step;
        st.playing = false;
      }
      help_tooltip("Scrub through the session's steps.");
      ImGui::SameLine();
      ImGui::SetNextItemWidth(ImGui::GetFontSize() * 6);
      ImGui::SliderFloat("steps/s", &st.play_steps_per_s, 1.0f, 60.0f, "%.0f", ImGuiSliderFlags_Logarithmic);
      help_tooltip("Replay speed.");
      if (st.playing) {
        st.play_accum += ImGui::GetIO().DeltaTime * st.play_steps_per_s;
        while (st.play_accum >= 1.0) {
          st.play_accum -= 1.0;
          if (++st.replay_step >= s.steps) {
            st.replay_step = s.steps;
            st.playing = false;
          }
        }
      }
    }
    if (ImGui::Button("Close session")) {
      st.open.reset();
      st.replaying = st.playing = false;
    }
    help_tooltip("Close it; the panels show the live run again.");
  }

  // ---- Compare -----------------------------------------------------------------------------
  ImGui::SeparatorText("Compare");
  path_row(st, "compare", st.compare_path, 1, "A second session to compare with the open one.");
  ImGui::BeginDisabled(!st.open);
  if (ImGui::Button("Compare")) {
    if (auto s = try_open(st, st.compare_path)) st.compare = s;
  }
  help_tooltip(st.open ? "Overlay the second session's series on the open one's and tabulate both."
                       : "Open a session first (above), then pick one to compare it with.");
  ImGui::EndDisabled();
  if (st.compare) {
    ImGui::SameLine();
    if (ImGui::Button("Clear comparison")) st.compare.reset();
    help_tooltip("Stop comparing.");
  }
  if (st.open) {
    std::vector<SessionMetrics> ms{session_metrics(*st.open)};
    if (st.compare) ms.push_back(session_metrics(*st.compare));
    metric_table(st, ms);
    const float h = ImGui::GetFontSize() * 9;
    const OpenSession* b = st.compare.get();
    overlay_plot("latency##cmp", "latency_ms", "ms / step", *st.open, b, h);
    overlay_plot("KL vs full cache##cmp", "kl", "nats", *st.open, b, h);
    overlay_plot("top-1 agreement##cmp", "top1_agree", "share", *st.open, b, h);
    overlay_plot("resident KV##cmp", "resident_bytes", "bytes", *st.open, b, h);
  }

  // ---- Export ------------------------------------------------------------------------------
  ImGui::SeparatorText("Export");
  const std::string export_src = st.open ? st.open->dir : live.session_dir;
  {
    char buf[1024];
    std::snprintf(buf, sizeof buf, "%s", st.export_dir.c_str());
    ImGui::SetNextItemWidth(-ImGui::GetFontSize() * 8);
    if (ImGui::InputTextWithHint("##export_dir", export_src.empty() ? "report folder" : default_export_dir(export_src).c_str(), buf, sizeof buf))
      st.export_dir = buf;
    help_tooltip("Where the report goes (empty: next to the session, <session>-report).");
  }
  ImGui::SameLine();
  ImGui::BeginDisabled(export_src.empty() || st.export_job != nullptr);
  if (ImGui::Button("Export report")) start_export(st, export_src);
  ImGui::EndDisabled();
  help_tooltip(export_src.empty() ? "Nothing to export yet: run something (every run is recorded) or open a session."
                                  : ("Write report.md, report.html, figures (PNG), CSV and a LaTeX table of " + export_src +
                                     ": the same as `skv report SESSION --out DIR`.").c_str());
  if (!st.exported.empty()) {
    ImGui::TextDisabled("%zu files, e.g. %s", st.exported.size(), fs::path(st.exported.front()).filename().string().c_str());
    if (ImGui::IsItemHovered()) {
      ImGui::BeginTooltip();
      for (const auto& f : st.exported) ImGui::TextUnformatted(f.c_str());
      ImGui::EndTooltip();
    }
  }

  if (!st.status.empty()) {
    ImGui::PushTextWrapPos(0.0f);
    if (st.status_error) ImGui::TextColored(ImVec4(1, 0.45f, 0.45f, 1), "%s", st.status.c_str());
    else ImGui::TextDisabled("%s", st.status.c_str());
    ImGui::PopTextWrapPos();
  }
  if (!st.open && live.session_dir.empty())
    ImGui::TextWrapped("Every run is recorded (under %s) so it can be replayed, compared and exported.", sessions_dir().c_str());
  ImGui::End();
}

}  // namespace skv::studio
