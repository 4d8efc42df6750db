# SPDX-License-Identifier: MIT
# BACKEND clickhouse's tests (label clickhouse): a real clickhouse-server started by the test
# on free loopback ports (tests/clickhouse/server.sh). Included from tests/CMakeLists.txt.
pkg_check_modules(CURL REQUIRED IMPORTED_TARGET libcurl)
add_executable(query_diff ${CMAKE_CURRENT_LIST_DIR}/query_diff.c)
target_link_libraries(query_diff PRIVATE qry stor PkgConfig::CURL PkgConfig::PCRE2 proj_warnings)
target_include_directories(query_diff PRIVATE ${CMAKE_SOURCE_DIR}/query/src)
add_test(NAME clickhouse.query_diff
  COMMAND ${CMAKE_CURRENT_LIST_DIR}/query_diff.sh $<TARGET_FILE:query_diff>)
set_tests_properties(clickhouse.query_diff PROPERTIES LABELS clickhouse TIMEOUT 300
  SKIP_RETURN_CODE 77)
