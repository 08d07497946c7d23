# SPDX-License-Identifier: MIT
# Debian packages with CPack: `cpack -G DEB` in a build tree makes
#
#   libuipc0      the shared library (libuipc.so.0), ldconfig trigger
#   libuipc-dev   header, libuipc.so link, static library, uipc.pc, the
#                 CMake package, section-3 and -7 man pages
#   uipc-tools    the uipc program and uipc(1)
#   python3-uipc  the Python package (python/uipc) in the interpreter's
#                 Debian path, /usr/lib/python3/dist-packages
#
# each -dev, -tools and python3- package depending on libuipc0 of exactly
# the same version.  Configure with -DCMAKE_INSTALL_PREFIX=/usr so that
# GNUInstallDirs picks the multiarch library directory
# (/usr/lib/x86_64-linux-gnu); scripts/test.sh builds, installs and checks
# them (scripts/deb-check.sh).  The components come from the COMPONENT of
# each install() rule (lib, dev, tools) plus python below, which a plain
# `cmake --install` leaves out: from source, `pip install ./python`.
install(DIRECTORY ${PROJECT_SOURCE_DIR}/python/uipc
  DESTINATION lib/python3/dist-packages COMPONENT python EXCLUDE_FROM_ALL
  FILES_MATCHING PATTERN "*.py" PATTERN "py.typed" PATTERN "__pycache__" EXCLUDE)

# Each package carries the licence as /usr/share/doc/<package>/copyright.
foreach(comp_pkg lib:libuipc0 dev:libuipc-dev tools:uipc-tools python:python3-uipc)
  string(REPLACE ":" ";" comp_pkg "${comp_pkg}")
  list(GET comp_pkg 0 comp)
  list(GET comp_pkg 1 pkg)
  install(FILES ${PROJECT_SOURCE_DIR}/LICENSE DESTINATION share/doc/${pkg} RENAME copyright
          COMPONENT ${comp} EXCLUDE_FROM_ALL)
endforeach()

set(UIPC_DEB_MAINTAINER "libuipc developers" CACHE STRING "Maintainer field of the .deb packages")
set(UIPC_DEB_RELEASE 1 CACHE STRING "Debian revision of the .deb packages")

set(CPACK_PACKAGE_NAME libuipc)
set(CPACK_PACKAGE_VENDOR libuipc)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "${UIPC_DEB_MAINTAINER}")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_OUTPUT_FILE_PREFIX ${PROJECT_BINARY_DIR}/deb)

set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL lib dev tools python)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE ${UIPC_DEB_RELEASE})
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${UIPC_DEB_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)

set(uipc_deb_version "${PROJECT_VERSION}-${UIPC_DEB_RELEASE}")
set(uipc_needs_lib "libuipc0 (= ${uipc_deb_version})")
# Descriptions: the first line is the synopsis; CPack indents the rest and
# turns an empty line into the " ." paragraph break.
set(uipc_about "libuipc is one message API over every classic Linux IPC mechanism
(pipes, FIFOs, UNIX and TCP/UDP sockets, shared-memory rings, mapped
files, POSIX and System V message queues, spool files), chosen by URI,
plus shared regions, semaphores, robust mutexes and notifications.
")

set(CPACK_DEBIAN_LIB_PACKAGE_NAME libuipc0)
set(CPACK_DEBIAN_LIB_PACKAGE_SECTION libs)
set(CPACK_DEBIAN_LIB_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS_POLICY "=")
set(CPACK_DEBIAN_LIB_DESCRIPTION "inter-process communication over every Linux IPC mechanism\n${uipc_about}\nThis package holds the shared library.")

set(CPACK_DEBIAN_DEV_PACKAGE_NAME libuipc-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS "${uipc_needs_lib}")
set(CPACK_DEBIAN_DEV_DESCRIPTION "libuipc development files\n${uipc_about}\nThis package holds the header, the static library, uipc.pc for\npkg-config, the CMake package (find_package(uipc)) and the manual pages.")

set(CPACK_DEBIAN_TOOLS_PACKAGE_NAME uipc-tools)
set(CPACK_DEBIAN_TOOLS_PACKAGE_SECTION utils)
# The tool needs libuipc0 and the C library; ZeroMQ and nng are optional,
# loaded by `uipc bench` when present.
set(CPACK_DEBIAN_TOOLS_PACKAGE_DEPENDS "${uipc_needs_lib}, libc6 (>= 2.34)")
set(CPACK_DEBIAN_TOOLS_PACKAGE_SUGGESTS "libzmq5, libnng1")
set(CPACK_DEBIAN_TOOLS_DESCRIPTION "the uipc command-line tool of libuipc\n${uipc_about}\nuipc sends and receives messages on any libuipc URI, lists and removes\nrendezvous, and benchmarks every transport.")

set(CPACK_DEBIAN_PYTHON_PACKAGE_NAME python3-uipc)
set(CPACK_DEBIAN_PYTHON_PACKAGE_SECTION python)
set(CPACK_DEBIAN_PYTHON_PACKAGE_ARCHITECTURE all)
set(CPACK_DEBIAN_PYTHON_PACKAGE_DEPENDS "${uipc_needs_lib}, python3 (>= 3.8)")
set(CPACK_DEBIAN_PYTHON_DESCRIPTION "Python binding of libuipc\n${uipc_about}\nThe uipc module (ctypes over libuipc.so.0): channels, listeners,\nasyncio, zero-copy, regions, semaphores and mutexes.")

include(CPack)
