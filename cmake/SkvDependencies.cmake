# Finds what scripts/bootstrap.sh installed. Paths come from the bootstrap's paths.cmake
# (passed with -C), or from the user: Torch_DIR / CMAKE_PREFIX_PATH for libtorch,
# SKV_IMGUI_BUNDLE_DIR for the unpacked imgui-bundle source.
find_package(Threads REQUIRED)
find_package(nlohmann_json 3 REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(PCRE2 REQUIRED IMPORTED_TARGET libpcre2-8)
find_package(CLI11 REQUIRED CONFIG)

# --- libtorch -------------------------------------------------------------------------------
if(NOT Torch_DIR AND SKV_TORCH_PREFIX)
  list(APPEND CMAKE_PREFIX_PATH "${SKV_TORCH_PREFIX}")
endif()
if(NOT Torch_DIR AND NOT SKV_TORCH_PREFIX)
  # Fall back to the python3 on PATH (the GPU machine's preinstalled torch).
  execute_process(COMMAND python3 -c "import torch.utils; print(torch.utils.cmake_prefix_path)"
                  OUTPUT_VARIABLE _skv_torch_prefix OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(_skv_torch_prefix)
    list(APPEND CMAKE_PREFIX_PATH "${_skv_torch_prefix}")
  endif()
endif()
# torch's cuda.cmake would try_run a GPU detection program (which fails to configure with
# CMake 3.25 + nvcc 13, and needs no GPU to be skipped): name the architectures instead.
if(NOT TORCH_CUDA_ARCH_LIST)
  set(TORCH_CUDA_ARCH_LIST "8.0;9.0a;9.0+PTX")
endif()
set(CMAKE_CUDA_STANDARD 17)
# torch's CMake config wants a CUDA toolkit when its build has CUDA; we never compile torch CUDA
# code ourselves, so let it find the machine's toolkit if there is one.
set(_skv_cuda_flags_before "${CMAKE_CUDA_FLAGS}")
find_package(Torch REQUIRED)
# torch appends its own -gencode list and -D__CUDA_NO_HALF_OPERATORS__ & co. to CMAKE_CUDA_FLAGS;
# our kernels are not torch extensions, so they get exactly the flags we choose (below).
set(CMAKE_CUDA_FLAGS "${_skv_cuda_flags_before}")
# The machine's CUDA ships an older libnccl.so.2 than torch's wheel needs; point the linker at
# the venv's nvidia/*/lib first (torch's own RPATH picks the right ones at run time).
get_filename_component(_skv_torch_lib_dir "${TORCH_LIBRARY}" DIRECTORY)
file(GLOB _skv_nvidia_lib_dirs "${_skv_torch_lib_dir}/../../nvidia/*/lib" "${_skv_torch_lib_dir}/../../nvidia/cu*/lib")
set(SKV_TORCH_LINK_OPTIONS "")
foreach(_d IN LISTS _skv_nvidia_lib_dirs)
  get_filename_component(_d "${_d}" REALPATH)
  list(APPEND SKV_TORCH_LINK_OPTIONS "LINKER:-rpath-link,${_d}")
endforeach()
add_library(skv_torch INTERFACE)
target_link_libraries(skv_torch INTERFACE ${TORCH_LIBRARIES})
target_link_options(skv_torch INTERFACE ${SKV_TORCH_LINK_OPTIONS})
# torch adds -D_GLIBCXX_USE_CXX11_ABI=1 itself in TORCH_CXX_FLAGS
separate_arguments(_skv_torch_cxx_flags UNIX_COMMAND "${TORCH_CXX_FLAGS}")
target_compile_options(skv_torch INTERFACE ${_skv_torch_cxx_flags})

# --- CUDA -----------------------------------------------------------------------------------
set(SKV_HAVE_CUDA OFF)
if(SKV_WITH_CUDA)
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    # Ampere SASS, Hopper SASS with the sm_90a features (wgmma, setmaxnreg), and sm_90 PTX for
    # anything newer. Written as -gencode (HOPPER.md: the -arch=sm_90a shorthand also runs a plain
    # sm_90 pass); targets set CUDA_ARCHITECTURES OFF and take these options.
    # A cache variable, so a quick local build can narrow it (e.g. to sm_90a only).
    set(SKV_CUDA_GENCODE -gencode=arch=compute_80,code=sm_80 -gencode=arch=compute_90a,code=sm_90a
                         -gencode=arch=compute_90,code=compute_90 CACHE STRING "nvcc -gencode options")
    enable_language(CUDA)
    find_package(CUDAToolkit REQUIRED)
    set(SKV_HAVE_CUDA ON)
  endif()
endif()
message(STATUS "SKV: CUDA kernels ${SKV_HAVE_CUDA}")

# --- GUI ------------------------------------------------------------------------------------
# SKV_HAVE_IMGUI: the imgui-bundle source is there, so the Studio's panels and the headless frame
# benchmark (skv_studio_frames: ImGui + ImPlot core, no window, no GL) build. SKV_HAVE_GUI: GLFW
# and OpenGL too, so skv-studio and its tests build. The GPU machine has the first, not the second.
set(SKV_HAVE_GUI OFF)
set(SKV_HAVE_IMGUI OFF)
if(SKV_BUILD_GUI)
  if(SKV_IMGUI_BUNDLE_DIR AND EXISTS "${SKV_IMGUI_BUNDLE_DIR}/external/imgui/imgui/imgui.cpp"
     AND EXISTS "${SKV_IMGUI_BUNDLE_DIR}/external/implot/implot/implot.cpp")
    set(SKV_HAVE_IMGUI ON)
  endif()
  find_package(glfw3 3.3 QUIET)
  find_package(OpenGL QUIET)
  if(glfw3_FOUND AND OpenGL_FOUND AND SKV_HAVE_IMGUI)
    set(SKV_HAVE_GUI ON)
  else()
    message(WARNING "SKV: GUI disabled (need GLFW, OpenGL and SKV_IMGUI_BUNDLE_DIR from scripts/bootstrap.sh)")
  endif()
endif()
message(STATUS "SKV: GUI ${SKV_HAVE_GUI}, ImGui panels + headless frame benchmark ${SKV_HAVE_IMGUI}")
