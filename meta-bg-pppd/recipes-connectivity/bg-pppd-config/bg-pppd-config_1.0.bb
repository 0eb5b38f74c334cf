SUMMARY = "Example: an image's own bg-pppd profile, started at boot"
DESCRIPTION = "Copy this recipe into your own layer and edit files/office.yaml. The SIM \
               PIN is not in the image: the profile names a pin_file on the data \
               partition, written at provisioning time (mode 0600)."
# Reason for the suppression: the lint runs in CI without network access.
# nooelint: oelint.vars.homepageping
HOMEPAGE = "https://git.bg-pppd.org/bg-pppd"
BUGTRACKER = "https://git.bg-pppd.org/bg-pppd/issues"
SECTION = "net"
CVE_PRODUCT = "bg-pppd-config"
LICENSE = "MIT"
# Reason for the suppression: this recipe ships one configuration file and no source
# tree, so the license text is the common MIT one.
# nooelint: oelint.var.licenseremotefile
LIC_FILES_CHKSUM = "file://${COMMON_LICENSE_DIR}/MIT;md5=0835ade698e0bcf8506ecda2f7b4f302"

SRC_URI = "file://office.yaml"

S = "${UNPACKDIR}"
UNPACKDIR ??= "${WORKDIR}"

inherit allarch

do_install() {
    install -d -m 0700 ${D}${sysconfdir}/bg-pppd
    install -m 0600 ${UNPACKDIR}/office.yaml ${D}${sysconfdir}/bg-pppd/office.yaml
}

CONFFILES:${PN} = "${sysconfdir}/bg-pppd/office.yaml"
RDEPENDS:${PN} = "bg-pppd"
