# SPDX-License-Identifier: MIT
# The console's files, embedded into flowlogd: web/src/** (ours) and uPlot from npm
# (web/node_modules, installed from web/package-lock.json by `npm ci`), turned into byte
# arrays in ${CMAKE_CURRENT_BINARY_DIR}/web_assets.c by web/embed.cmake at build time.
# Included from collector/CMakeLists.txt; sets WEB_ASSETS_C.
set(_web ${CMAKE_SOURCE_DIR}/web)
set(_uplot ${_web}/node_modules/uplot/dist)
if(NOT EXISTS ${_uplot}/uPlot.iife.min.js)
  find_program(NPM npm)
  if(NPM)
    message(STATUS "web: npm ci in ${_web} (uPlot for the console)")
    execute_process(COMMAND ${NPM} ci --no-audit --no-fund WORKING_DIRECTORY ${_web}
                    RESULT_VARIABLE _npm_rc OUTPUT_QUIET)
  endif()
  if(NOT EXISTS ${_uplot}/uPlot.iife.min.js)
    message(FATAL_ERROR "web: uPlot is missing: run `npm ci` in ${_web} (scripts/deps.sh does)")
  endif()
endif()
file(GLOB_RECURSE _web_src CONFIGURE_DEPENDS ${_web}/src/*.html ${_web}/src/*.css ${_web}/src/*.js)
set(_web_files ${_web_src} ${_uplot}/uPlot.iife.min.js ${_uplot}/uPlot.min.css)
set(WEB_ASSETS_C ${CMAKE_CURRENT_BINARY_DIR}/web_assets.c)
add_custom_command(OUTPUT ${WEB_ASSETS_C}
  COMMAND ${CMAKE_COMMAND} -DOUT=${WEB_ASSETS_C} -DSRC=${_web}/src -DVENDOR=${_uplot}
          -P ${_web}/embed.cmake
  DEPENDS ${_web_files} ${_web}/embed.cmake
  COMMENT "Embedding the web console")
