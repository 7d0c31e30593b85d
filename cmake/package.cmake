# Installation layout and the Debian package (cpack -G DEB, driven by scripts/package.sh).
#   /usr/bin/regmirror                      the binary
#   /lib/systemd/system/regmirror.service   deploy/systemd/regmirror.service, ExecStart at bindir
#   /etc/regmirror/config.json              deploy/examples/default.json (a conffile)
#   /usr/share/doc/regmirror/               README.md, CHANGELOG.md, copyright
#   /usr/share/bash-completion/completions/regmirror
include(GNUInstallDirs)

install(TARGETS regmirror RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

# The unit in deploy/ names /usr/local/bin (a hand install); the installed one names the bindir
# of the prefix it is installed to (/usr in the package), written at install time.
install(CODE "set(REGMIRROR_UNIT_SOURCE \"${PROJECT_SOURCE_DIR}/deploy/systemd/regmirror.service\")
              set(REGMIRROR_UNIT_STAGING \"${PROJECT_BINARY_DIR}/package\")
              set(REGMIRROR_BINDIR \"${CMAKE_INSTALL_BINDIR}\")")
install(SCRIPT ${PROJECT_SOURCE_DIR}/cmake/install_unit.cmake)
install(FILES ${PROJECT_SOURCE_DIR}/deploy/examples/default.json DESTINATION /etc/regmirror
        RENAME config.json)
install(FILES README.md CHANGELOG.md deploy/debian/copyright
        DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(FILES deploy/debian/regmirror.bash-completion
        DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions RENAME regmirror)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME regmirror)
set(CPACK_PACKAGE_VENDOR "regmirror")
set(CPACK_PACKAGE_CONTACT "regmirror maintainers <regmirror@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "OCI registry pull-through cache for Kubernetes nodes")
set(CPACK_PACKAGE_DESCRIPTION
    "One binary that mirrors Docker Hub, registry.k8s.io, gcr.io, quay.io and ghcr.io for\ncontainerd nodes: digest-verified cache, stale tags through upstream outages and rate\nlimits, closed-network bundles, and the node-side configuration (regmirror node apply).")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # regmirror_<version>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://github.com/regmirror/regmirror")
# Runtime libraries from dpkg-shlibdeps (dpkg-dev), so Depends matches what the binary links.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "ca-certificates")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/deploy/debian/conffiles
    ${PROJECT_SOURCE_DIR}/deploy/debian/postinst
    ${PROJECT_SOURCE_DIR}/deploy/debian/prerm
    ${PROJECT_SOURCE_DIR}/deploy/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
