# install(SCRIPT): the systemd unit with ExecStart at <prefix>/<bindir>/regmirror.
# Set by package.cmake: REGMIRROR_UNIT_SOURCE, REGMIRROR_UNIT_STAGING, REGMIRROR_BINDIR.
file(READ "${REGMIRROR_UNIT_SOURCE}" unit)
string(REGEX REPLACE "^(#[^\n]*\n)+" "# Installed with regmirror; its settings: /etc/regmirror/config.json.\n"
       unit "${unit}")
string(REPLACE "/usr/local/bin/regmirror" "${CMAKE_INSTALL_PREFIX}/${REGMIRROR_BINDIR}/regmirror"
       unit "${unit}")
file(WRITE "${REGMIRROR_UNIT_STAGING}/regmirror.service" "${unit}")
file(INSTALL DESTINATION "/lib/systemd/system" TYPE FILE PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ
     FILES "${REGMIRROR_UNIT_STAGING}/regmirror.service")
