# SPDX-License-Identifier: MIT
# The public interface checked from the outside, without cmocka:
#
#  - header_c99 / header_cxx11: include/uipc/uipc.h compiled by a consumer
#    as strict C99 and as C++11, both -pedantic -Werror, linked against the
#    shared library and run (the version macros must agree with the library).
#  - spdx_headers: LICENSE exists and every source file names it (SPDX).
#  - abi_exports: the shared library's dynamic symbols (nm -D), the version
#    script lib/libuipc.map, the header's UIPC_API declarations and the man
#    pages in docs/man/ must name the same calls (tests/abi/abi_check.sh).

set(_abi_dir ${CMAKE_CURRENT_LIST_DIR})
set(_abi_strict -Wall -Wextra -Wpedantic -Werror -Wshadow -Wundef -Wconversion -Wsign-conversion)

add_executable(header_c99 ${_abi_dir}/header_c99.c)
target_link_libraries(header_c99 PRIVATE uipc)
set_target_properties(header_c99 PROPERTIES C_STANDARD 99 C_EXTENSIONS OFF)
target_compile_options(header_c99 PRIVATE ${_abi_strict} -Wstrict-prototypes -Wmissing-prototypes)
uipc_target_sanitize(header_c99)
add_test(NAME header_c99 COMMAND header_c99)
set_tests_properties(header_c99 PROPERTIES TIMEOUT 30 LABELS abi)

include(CheckLanguage)
check_language(CXX)
if(CMAKE_CXX_COMPILER)
  enable_language(CXX)
  add_executable(header_cxx11 ${_abi_dir}/header_cxx11.cpp)
  target_link_libraries(header_cxx11 PRIVATE uipc)
  set_target_properties(header_cxx11 PROPERTIES CXX_STANDARD 11 CXX_STANDARD_REQUIRED ON
                                               CXX_EXTENSIONS OFF)
  target_compile_options(header_cxx11 PRIVATE ${_abi_strict} -Wold-style-cast)
  uipc_target_sanitize(header_cxx11)
  add_test(NAME header_cxx11 COMMAND header_cxx11)
  set_tests_properties(header_cxx11 PROPERTIES TIMEOUT 30 LABELS abi)
else()
  message(STATUS "No C++ compiler: the C++11 header test (header_cxx11) is skipped")
endif()

add_test(NAME abi_exports
  COMMAND bash ${_abi_dir}/abi_check.sh $<TARGET_FILE:uipc> ${PROJECT_SOURCE_DIR}/lib/libuipc.map
          ${PROJECT_SOURCE_DIR}/include/uipc/uipc.h ${PROJECT_SOURCE_DIR}/docs/man)
set_tests_properties(abi_exports PROPERTIES TIMEOUT 30 LABELS abi)

# LICENSE exists and every source file carries an SPDX-License-Identifier.
add_test(NAME spdx_headers COMMAND bash ${_abi_dir}/spdx_check.sh ${PROJECT_SOURCE_DIR})
set_tests_properties(spdx_headers PROPERTIES TIMEOUT 30 LABELS abi)
