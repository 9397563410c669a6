# One place for warning flags; CI turns them into errors with SKV_WARNINGS_AS_ERRORS=ON.
add_library(skv_warnings INTERFACE)
target_compile_options(skv_warnings INTERFACE
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers>
  $<$<AND:$<COMPILE_LANGUAGE:CXX>,$<BOOL:${SKV_WARNINGS_AS_ERRORS}>>:-Werror>)
