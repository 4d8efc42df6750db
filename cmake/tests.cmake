# SPDX-License-Identifier: MIT
# add_unit_test(<module> <topic>): builds tests/unit/<module>/test_<topic>.c as a cmocka
# executable linked to the module's library, registered with ctest under the label "unit".
function(add_unit_test module topic)
  set(name test_${module}_${topic})
  add_executable(${name} ${CMAKE_SOURCE_DIR}/tests/unit/${module}/test_${topic}.c)
  target_link_libraries(${name} PRIVATE ${module} PkgConfig::CMOCKA proj_warnings ${ARGN})
  # Unit tests may reach the module's private headers (STYLE.md §1: src/ is private to its
  # module and that module's unit tests).
  get_target_property(_srcdir ${module} SOURCE_DIR)
  target_include_directories(${name} PRIVATE ${_srcdir}/src)
  add_test(NAME unit.${module}.${topic} COMMAND ${name})
  set_tests_properties(unit.${module}.${topic} PROPERTIES LABELS unit)
endfunction()
