# SPDX-License-Identifier: MIT
# add_unit_test(<module> <topic>): builds tests/unit/<module>/test_<topic>.c as a cmocka
# executable linked to the module's library, registered with ctest under the label "unit".
function(add_unit_test module topic)
  set(name test_${module}_${topic})
  add_executable(${name} ${CMAKE_SOURCE_DIR}/tests/unit/${module}/test_${topic}.c)
  target_link_libraries(${name} PRIVATE ${module} PkgConfig::CMOCKA proj_warnings ${ARGN})
  add_test(NAME unit.${module}.${topic} COMMAND ${name})
  set_tests_properties(unit.${module}.${topic} PROPERTIES LABELS unit)
endfunction()
