# SPDX-License-Identifier: MIT
# flowlogd against nfcapd on the same input (issue 4).
# Each script skips (77) when nfcapd, nfdump, nfreplay or softflowd is missing, or the shared
# captures (CAPTURES_DIR, ../shared/captures by default) are not there. README.md says what
# each one compares.
set(_coll_tools $<TARGET_FILE:stordump> $<TARGET_FILE:udptee>)
add_test(NAME interop.collector_nfsend
  COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/collector_nfsend.sh $<TARGET_FILE:flowlogd>
          $<TARGET_FILE:nfsend> ${_coll_tools})
add_test(NAME interop.collector_softflowd
  COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/collector_softflowd.sh $<TARGET_FILE:flowlogd>
          ${_coll_tools} ${CAPTURES_DIR})
add_test(NAME interop.collector_nfreplay
  COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/collector_nfreplay.sh $<TARGET_FILE:flowlogd>
          $<TARGET_FILE:nfsend> ${_coll_tools})
set_tests_properties(interop.collector_nfsend interop.collector_softflowd
  interop.collector_nfreplay PROPERTIES LABELS interop TIMEOUT 60 SKIP_RETURN_CODE 77)
