# SPDX-License-Identifier: MIT
# Compiler flags for libuipc's own targets, applied per target so that none
# of them reaches a project that embeds libuipc (add_subdirectory) or
# consumes the installed package.
#
#   uipc_target_flags(<target>)   warnings (-Werror with UIPC_WERROR),
#                                 _GNU_SOURCE, and the UIPC_SANITIZE flags.
#   uipc_target_sanitize(<target>)  the UIPC_SANITIZE flags alone (for a
#                                 program built as a consumer would build it
#                                 that still links the instrumented library).
#
# Every target defined in this tree (library objects, tools, tests,
# examples, benchmarks) calls it; the helper functions uipc_add_test() and
# uipc_example() do so for the targets they create.

set(UIPC_WARNINGS -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes)

function(uipc_target_flags target)
  get_target_property(_type ${target} TYPE)
  if(_type STREQUAL "INTERFACE_LIBRARY")
    message(FATAL_ERROR "uipc_target_flags: ${target} is an interface library")
  endif()
  # The prototype warnings are C-only; keep them off C++ sources.
  target_compile_options(${target} PRIVATE "$<$<COMPILE_LANGUAGE:C>:${UIPC_WARNINGS}>"
                                           "$<$<COMPILE_LANGUAGE:CXX>:-Wall;-Wextra>")
  target_compile_definitions(${target} PRIVATE _GNU_SOURCE)
  if(UIPC_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
  uipc_target_sanitize(${target})
endfunction()

function(uipc_target_sanitize target)
  if(NOT UIPC_SANITIZE)
    return()
  endif()
  get_target_property(_type ${target} TYPE)
  target_compile_options(${target} PRIVATE
    -fsanitize=${UIPC_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  if(NOT _type STREQUAL "OBJECT_LIBRARY" AND NOT _type STREQUAL "STATIC_LIBRARY")
    target_link_options(${target} PRIVATE -fsanitize=${UIPC_SANITIZE})
  endif()
endfunction()
