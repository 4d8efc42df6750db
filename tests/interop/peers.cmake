# SPDX-License-Identifier: MIT
# The peers of issue 7 against flowlogd and flowprobe: pmacct (pmacctd, nfacctd), fprobe,
# softflowd's other export modes and libfixbuf's ipfixDump. Each test skips (77) when its peer
# is missing; README.md says what each compares.
set(_peer_tools $<TARGET_FILE:stordump> $<TARGET_FILE:udptee>)
set(_peer_tests)

foreach(_v 5 9 10)
  add_test(NAME interop.peers_pmacctd_v${_v}
    COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/peers_pmacctd.sh $<TARGET_FILE:flowlogd>
            ${_peer_tools} $<TARGET_FILE:flowprobe> ${CAPTURES_DIR} ${_v})
  list(APPEND _peer_tests interop.peers_pmacctd_v${_v})
endforeach()

add_test(NAME interop.peers_nfacctd
  COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/peers_nfacctd.sh $<TARGET_FILE:flowlogd> ${_peer_tools}
          $<TARGET_FILE:flowprobe> ${CAPTURES_DIR})
list(APPEND _peer_tests interop.peers_nfacctd)

foreach(_v 1 5 7)
  add_test(NAME interop.peers_fprobe_v${_v}
    COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/peers_fprobe.sh $<TARGET_FILE:flowlogd> ${_peer_tools}
            $<TARGET_FILE:flowprobe> ${_v})
  list(APPEND _peer_tests interop.peers_fprobe_v${_v})
endforeach()

foreach(_m biflow psamp v1)
  add_test(NAME interop.peers_softflowd_${_m}
    COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/peers_softflowd.sh $<TARGET_FILE:flowlogd>
            ${_peer_tools} ${CAPTURES_DIR} ${_m})
  list(APPEND _peer_tests interop.peers_softflowd_${_m})
endforeach()

# probe_udpcap comes from probe.cmake (included before this file).
add_test(NAME interop.peers_ipfixdump
  COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/peers_ipfixdump.sh $<TARGET_FILE:flowlogd> ${_peer_tools}
          $<TARGET_FILE:flowprobe> $<TARGET_FILE:probe_udpcap> ${CAPTURES_DIR})
list(APPEND _peer_tests interop.peers_ipfixdump)

set_tests_properties(${_peer_tests} PROPERTIES LABELS interop TIMEOUT 60 SKIP_RETURN_CODE 77)
