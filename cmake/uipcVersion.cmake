# SPDX-License-Identifier: MIT
# The version has one source: the UIPC_VERSION_MAJOR/MINOR/PATCH macros in
# include/uipc/uipc.h.  Included before project(), this sets UIPC_VERSION
# ("MAJOR.MINOR.PATCH") for project(VERSION ...) to use.
file(STRINGS "${CMAKE_CURRENT_LIST_DIR}/../include/uipc/uipc.h" _uipc_version_defines
     REGEX "^#define UIPC_VERSION_(MAJOR|MINOR|PATCH) +[0-9]+ *$")
foreach(_uipc_part MAJOR MINOR PATCH)
  if(NOT _uipc_version_defines MATCHES "UIPC_VERSION_${_uipc_part} +([0-9]+)")
    message(FATAL_ERROR "include/uipc/uipc.h: no '#define UIPC_VERSION_${_uipc_part} <number>'")
  endif()
  set(_uipc_version_${_uipc_part} ${CMAKE_MATCH_1})
endforeach()
set(UIPC_VERSION "${_uipc_version_MAJOR}.${_uipc_version_MINOR}.${_uipc_version_PATCH}")
unset(_uipc_version_defines)
unset(_uipc_part)
