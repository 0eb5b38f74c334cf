SUMMARY = "Keep a Quectel BG95/BG77/BG600L LTE-M/NB-IoT module online over PPP"
DESCRIPTION = "bg-pppd renders pppd peer files and chat scripts from a YAML profile, \
               runs the vendor's pre-flight (AT sync, SIM, registration) and supervises \
               pppd with the vendor's escalating module reset schedule."
# Reason for the suppression: the lint runs in CI without network access.
# nooelint: oelint.vars.homepageping
HOMEPAGE = "https://git.bg-pppd.org/bg-pppd"
BUGTRACKER = "https://git.bg-pppd.org/bg-pppd/issues"
SECTION = "net"
CVE_PRODUCT = "bg-pppd"
LICENSE = "MIT"
LIC_FILES_CHKSUM = "file://LICENSE;md5=2412e1786e9f1b4881e5446b1e81c7c3"

# Point SRCREV at the release you build (the commit of tag v${PV}); a bbappend can
# override SRC_URI, e.g. to a local mirror.
SRC_URI = "git://git.bg-pppd.org/bg-pppd.git;protocol=https;branch=main;destsuffix=${BP}"
SRCREV = "77e43c2d403376da6ed11cbb0ceadfde93a1cccf"

inherit python_setuptools_build_meta systemd

SYSTEMD_SERVICE:${PN} = "bg-pppd@.service"
# A template unit needs a profile first. To start an instance at boot, see the layer's
# README: SYSTEMD_SERVICE:${PN} = "bg-pppd@NAME.service" and SYSTEMD_AUTO_ENABLE = "enable".
SYSTEMD_AUTO_ENABLE = "disable"

do_install:append() {
    install -d ${D}${systemd_system_unitdir}
    install -m 0644 ${S}/systemd/bg-pppd@.service ${D}${systemd_system_unitdir}/
    install -d ${D}${nonarch_base_libdir}/udev/rules.d
    install -m 0644 ${S}/udev/60-bg-pppd.rules ${D}${nonarch_base_libdir}/udev/rules.d/
    # profiles hold SIM PINs and APN passwords: a root-only directory
    install -d -m 0700 ${D}${sysconfdir}/bg-pppd
    install -m 0644 ${S}/configs/example.yaml ${D}${sysconfdir}/bg-pppd/
}

FILES:${PN} += "${systemd_system_unitdir}/bg-pppd@.service \
                ${nonarch_base_libdir}/udev/rules.d/60-bg-pppd.rules \
                ${sysconfdir}/bg-pppd"
CONFFILES:${PN} = "${sysconfdir}/bg-pppd/example.yaml"

# The Python standard library subpackages bg_pppd imports (tests/test_yocto.py checks
# this list against the code's imports and the python3 manifest), then its libraries.
RDEPENDS:${PN} = "\
    ppp \
    python3-core \
    python3-crypt \
    python3-ctypes \
    python3-difflib \
    python3-fcntl \
    python3-io \
    python3-jinja2 \
    python3-json \
    python3-logging \
    python3-netclient \
    python3-pyserial \
    python3-pyyaml \
    python3-sh \
    python3-shell \
    python3-terminal \
"

# modem.multiplex: cmux needs the kernel's n_gsm line discipline (CONFIG_N_GSM=m or y);
# bg-pppd runs `modprobe n_gsm` when it is not loaded. Recommended, not required: profiles
# without cmux do not use it, and a kernel with it built in has no such package.
RRECOMMENDS:${PN} = "kernel-module-n-gsm"
