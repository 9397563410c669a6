# Dear ImGui (docking) + ImPlot, built from the pinned imgui-bundle source that
# scripts/bootstrap.sh unpacked (checksum-verified). Never vendored in this repo.
#   skv_imgui     ImGui + ImPlot core (no window system, no GL); with the GUI also the ImGui Test
#                 Engine. The headless frame benchmark needs only this.
#   skv_imgui_gl  the GLFW + OpenGL 3 backends (GUI builds only).
set(_imgui ${SKV_IMGUI_BUNDLE_DIR}/external/imgui/imgui)
set(_implot ${SKV_IMGUI_BUNDLE_DIR}/external/implot/implot)
set(_te ${SKV_IMGUI_BUNDLE_DIR}/external/imgui_test_engine/imgui_test_engine/imgui_test_engine)
add_library(skv_imgui STATIC
  ${_imgui}/imgui.cpp ${_imgui}/imgui_draw.cpp ${_imgui}/imgui_tables.cpp
  ${_imgui}/imgui_widgets.cpp ${_imgui}/imgui_demo.cpp
  ${_imgui}/misc/cpp/imgui_stdlib.cpp
  ${_implot}/implot.cpp ${_implot}/implot_items.cpp ${_implot}/implot_demo.cpp)
if(EXISTS ${_imgui}/imgui_stacklayout.cpp)
  target_sources(skv_imgui PRIVATE ${_imgui}/imgui_stacklayout.cpp)
endif()
target_include_directories(skv_imgui SYSTEM PUBLIC ${_imgui} ${_imgui}/backends ${_imgui}/misc/cpp ${_implot})
target_link_libraries(skv_imgui PUBLIC Threads::Threads)
set_target_properties(skv_imgui PROPERTIES POSITION_INDEPENDENT_CODE ON)

if(SKV_HAVE_GUI)
  file(GLOB _te_sources ${_te}/*.cpp)
  target_sources(skv_imgui PRIVATE ${_te_sources})
  target_include_directories(skv_imgui SYSTEM PUBLIC ${_te}/.. ${_te})
  # One stb_image_write for the whole program: Debian's libstb (libstb-dev). The test engine's
  # capture tool would otherwise compile its own bundled copy and clash with ours.
  pkg_check_modules(STB REQUIRED IMPORTED_TARGET stb)
  target_compile_definitions(skv_imgui PRIVATE IMGUI_DISABLE_STB_IMAGE_WRITE_IMPLEMENTATION
    "IMGUI_STB_IMAGE_WRITE_FILENAME=<stb_image_write.h>")
  target_compile_definitions(skv_imgui PUBLIC
    IMGUI_ENABLE_TEST_ENGINE IMGUI_TEST_ENGINE_ENABLE_COROUTINE_STDTHREAD_IMPL=1
    IMGUI_TEST_ENGINE_ENABLE_STD_FUNCTION=1 IMGUI_DEFINE_MATH_OPERATORS)
  target_link_libraries(skv_imgui PUBLIC PkgConfig::STB ${CMAKE_DL_LIBS})

  add_library(skv_imgui_gl STATIC ${_imgui}/backends/imgui_impl_glfw.cpp ${_imgui}/backends/imgui_impl_opengl3.cpp)
  target_link_libraries(skv_imgui_gl PUBLIC skv_imgui glfw OpenGL::GL ${CMAKE_DL_LIBS})
  set_target_properties(skv_imgui_gl PROPERTIES POSITION_INDEPENDENT_CODE ON)
else()
  target_compile_definitions(skv_imgui PUBLIC IMGUI_DEFINE_MATH_OPERATORS)
endif()
