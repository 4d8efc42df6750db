# SPDX-License-Identifier: MIT
# What `cmake --install BUILD [--prefix P]` puts where, besides the three programs (their
# install(TARGETS) lines stand next to their targets: flowlogd and flowprobe in
# ${CMAKE_INSTALL_SBINDIR}, flowlog in ${CMAKE_INSTALL_BINDIR}). docs/operations.md, "Installing",
# is the operator's page for it.
#
#   P/etc/flowlog/flowlogd.conf, flowprobe.conf   ${CMAKE_INSTALL_SYSCONFDIR}/flowlog
#   P/lib/systemd/system/flowlogd.service, ...   the units, pointing at the installed paths
#   P/share/man/man1/flowlog.1, man8/*.8         ${CMAKE_INSTALL_MANDIR}
#   P/share/doc/flowlog/*.md                      ${CMAKE_INSTALL_DOCDIR} (the units' Documentation=)
#
# Decisions:
# - The prefix is the one given to `cmake --install --prefix` (or CMAKE_INSTALL_PREFIX at
#   configure time), so the units and the config directory are worked out when installing,
#   not when configuring: an install(CODE) step below, which sees the final prefix.
# - The config directory follows GNUInstallDirs, including its special case: with the
#   prefix /usr, a relative CMAKE_INSTALL_SYSCONFDIR ("etc") means /etc, not /usr/etc. Any
#   other prefix P gets P/etc/flowlog. An absolute -DCMAKE_INSTALL_SYSCONFDIR=/etc is used
#   as it is (under DESTDIR).
# - An installed config is the operator's: when the file is already there and differs, it is
#   left alone and the new example is put beside it as flowlogd.conf.dist (a message says so).
# - Units go to P/lib/systemd/system (/usr/lib/systemd/system and /usr/local/lib/systemd/system
#   are both on systemd's search path). etc/*.service are written for the prefix /usr; their
#   /usr/sbin/, /etc/flowlog/ and /usr/share/doc/flowlog paths are replaced by the installed
#   ones, so a unit always starts the binary and reads the config that this install put down.
include(GNUInstallDirs)

install(FILES ${CMAKE_SOURCE_DIR}/man/flowlog.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(FILES ${CMAKE_SOURCE_DIR}/man/flowlogd.8 ${CMAKE_SOURCE_DIR}/man/flowprobe.8
        DESTINATION ${CMAKE_INSTALL_MANDIR}/man8)
install(FILES ${CMAKE_SOURCE_DIR}/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(DIRECTORY ${CMAKE_SOURCE_DIR}/docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR}
        FILES_MATCHING PATTERN "*.md")

# The install-time step. Variables written \${...} are expanded when installing (the prefix
# given to --install), the others now.
install(CODE "
  set(_src \"${CMAKE_SOURCE_DIR}/etc\")
  set(_tmp \"${CMAKE_BINARY_DIR}/install-units\")
  set(_prefix \"\${CMAKE_INSTALL_PREFIX}\")
  string(REGEX REPLACE \"/+$\" \"\" _prefix \"\${_prefix}\")
  function(_flowlog_abs out dir)
    if(IS_ABSOLUTE \"\${dir}\")
      set(\${out} \"\${dir}\" PARENT_SCOPE)
    elseif(_prefix STREQUAL \"/usr\" AND dir STREQUAL \"etc\")
      set(\${out} \"/etc\" PARENT_SCOPE)
    else()
      set(\${out} \"\${_prefix}/\${dir}\" PARENT_SCOPE)
    endif()
  endfunction()
  _flowlog_abs(_sbindir \"${CMAKE_INSTALL_SBINDIR}\")
  _flowlog_abs(_sysconfdir \"${CMAKE_INSTALL_SYSCONFDIR}\")
  _flowlog_abs(_docdir \"${CMAKE_INSTALL_DOCDIR}\")
  set(_confdir \"\${_sysconfdir}/flowlog\")

  foreach(_conf flowlogd.conf flowprobe.conf)
    set(_dst \"\$ENV{DESTDIR}\${_confdir}/\${_conf}\")
    if(EXISTS \"\${_dst}\")
      file(SHA256 \"\${_dst}\" _old)
      file(SHA256 \"\${_src}/\${_conf}\" _new)
      if(NOT _old STREQUAL _new)
        message(STATUS \"Keeping: \${_dst} (changed; the new example is \${_conf}.dist)\")
        file(MAKE_DIRECTORY \"\${_tmp}\")
        configure_file(\"\${_src}/\${_conf}\" \"\${_tmp}/\${_conf}.dist\" COPYONLY)
        file(INSTALL DESTINATION \"\${_confdir}\" TYPE FILE FILES \"\${_tmp}/\${_conf}.dist\")
        continue()
      endif()
    endif()
    file(INSTALL DESTINATION \"\${_confdir}\" TYPE FILE FILES \"\${_src}/\${_conf}\")
  endforeach()

  file(MAKE_DIRECTORY \"\${_tmp}\")
  foreach(_unit flowlogd.service flowprobe.service)
    file(READ \"\${_src}/\${_unit}\" _text)
    string(REPLACE \"/usr/sbin/\" \"\${_sbindir}/\" _text \"\${_text}\")
    string(REPLACE \"/etc/flowlog/\" \"\${_confdir}/\" _text \"\${_text}\")
    string(REPLACE \"/usr/share/doc/flowlog\" \"\${_docdir}\" _text \"\${_text}\")
    file(WRITE \"\${_tmp}/\${_unit}\" \"\${_text}\")
    file(INSTALL DESTINATION \"\${_prefix}/lib/systemd/system\" TYPE FILE
         FILES \"\${_tmp}/\${_unit}\")
  endforeach()
")
