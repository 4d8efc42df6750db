# SPDX-License-Identifier: MIT
# flowprobe against softflowd, nfcapd/nfdump and tshark (issue 6).

# A stand-in collector that writes what it receives into a pcap file, for tshark.
add_executable(probe_udpcap ${CMAKE_CURRENT_SOURCE_DIR}/probe_udpcap.c)
target_link_libraries(probe_udpcap PRIVATE PkgConfig::PCAP proj_warnings)

foreach(_t totals softflowd asan)
  add_test(NAME interop.probe_${_t}
    COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/probe_${_t}.sh $<TARGET_FILE:flowprobe>
            $<TARGET_FILE:probe_udpcap> ${CAPTURES_DIR})
  set_tests_properties(interop.probe_${_t} PROPERTIES LABELS interop TIMEOUT 120
                       SKIP_RETURN_CODE 77)
endforeach()
