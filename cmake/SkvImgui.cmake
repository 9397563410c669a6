# Dear ImGui (docking) + ImPlot + the ImGui Test Engine, built from the pinned imgui-bundle
# source that scripts/bootstrap.sh unpacked (checksum-verified). Never vendored in this repo.
set(_imgui ${SKV_IMGUI_BUNDLE_DIR}/external/imgui/imgui)
set(_implot ${SKV_IMGUI_BUNDLE_DIR}/external/implot/implot)
set(_te ${SKV_IMGUI_BUNDLE_DIR}/external/imgui_test_engine/imgui_test_engine/imgui_test_engine)
file(GLOB _te_sources ${_te}/*.cpp)
add_library(skv_imgui STATIC
  ${_imgui}/imgui.cpp ${_imgui}/imgui_draw.cpp ${_imgui}/imgui_tables.cpp
  ${_imgui}/imgui_widgets.cpp ${_imgui}/imgui_demo.cpp
  ${_imgui}/backends/imgui_impl_glfw.cpp ${_imgui}/backends/imgui_impl_opengl3.cpp
  ${_imgui}/misc/cpp/imgui_stdlib.cpp
  ${_implot}/implot.cpp ${_implot}/implot_items.cpp ${_implot}/implot_demo.cpp
  ${_te_sources})
if(EXISTS ${_imgui}/imgui_stacklayout.cpp)
  target_sources(skv_imgui PRIVATE ${_imgui}/imgui_stacklayout.cpp)
endif()
target_include_directories(skv_imgui SYSTEM PUBLIC ${_imgui} ${_imgui}/backends ${_imgui}/misc/cpp ${_implot} ${_te}/.. ${_te})
# One stb_image_write for the whole program: Debian's libstb (libstb-dev). The test engine's
# capture tool would otherwise compile its own bundled copy and clash with ours.
pkg_check_modules(STB REQUIRED IMPORTED_TARGET stb)
target_compile_definitions(skv_imgui PRIVATE IMGUI_DISABLE_STB_IMAGE_WRITE_IMPLEMENTATION
  "IMGUI_STB_IMAGE_WRITE_FILENAME=<stb_image_write.h>")
target_compile_definitions(skv_imgui PUBLIC
  IMGUI_ENABLE_TEST_ENGINE IMGUI_TEST_ENGINE_ENABLE_COROUTINE_STDTHREAD_IMPL=1
  IMGUI_TEST_ENGINE_ENABLE_STD_FUNCTION=1 IMGUI_DEFINE_MATH_OPERATORS)
target_link_libraries(skv_imgui PUBLIC glfw OpenGL::GL PkgConfig::STB Threads::Threads ${CMAKE_DL_LIBS})
set_target_properties(skv_imgui PROPERTIES POSITION_INDEPENDENT_CODE ON)
