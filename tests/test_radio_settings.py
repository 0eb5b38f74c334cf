"""Radio settings that stick (bands, PSM/eDRX, scan settings this firmware has), the firmware id
and the signal on LTE-M: `bg-pppd check` and the pre-flight against the virtual module on its pty,
the planning as pure functions.
"""

from __future__ import annotations

import json

import pytest

from bg_pppd.modem import radio
from bg_pppd.modem.preflight import Preflight
from bg_pppd.profile.model import load as load_profile

BG95_M3_BANDS = [0xF, 0x100002000000000F0E189F, 0x10004200000000090E189F]  # the emulator's defaults


def with_network(b, extra: str) -> None:
    """Add lines under the bench profile's network: section."""
    b.profile.write_text(b.profile.read_text().replace("  apn: internet\n", "  apn: internet\n" + extra))


def writes(commands: list[str], prefix: str) -> list[str]:
    return [c for c in commands if c.startswith(prefix)]


def nv(b):
    """The virtual module's flash record of bands and PSM/eDRX (emulator.radio_nv)."""
    from bg_pppd.emulator import radio_nv

    return b.emu.loop.call(lambda: radio_nv.of(b.emu.modem))


def radio_step(stdout: str) -> str:
    return next(s["status"] for s in json.loads(stdout)["steps"] if s["step"] == "radio")


# ----- bands -----------------------------------------------------------------------------------

def test_bands_are_written_once_then_left_alone(bench):
    b = bench()
    with_network(b, "  bands:\n    catm1: [3, 20]\n    nbiot: [8, 20]\n")
    first = b.check("--json")
    assert first.returncode == 0, first.stderr
    # LTE band n = bit n-1: B3 + B20 = 0x80004, B8 + B20 = 0x80080; GSM (not in the profile) kept as 0xF
    assert writes(b.commands(), 'AT+QCFG="band",') == ['AT+QCFG="band",F,80004,80080,1']
    assert nv(b).bands == [0xF, 0x80004, 0x80080]
    assert "catm1 bands" in radio_step(first.stdout)
    done = len(b.commands())
    second = b.check("--json")
    assert second.returncode == 0, second.stderr
    assert 'AT+QCFG="band"' in b.commands()[done:], "read again"
    assert writes(b.commands()[done:], 'AT+QCFG="band",') == [], "already set: no second write to flash"
    assert nv(b).writes == 1


def test_gsm_bands_by_mhz_and_lte_masks_kept(bench):
    b = bench(model="BG95-M3")
    with_network(b, "  bands:\n    egprs: [900, 1800]\n")
    assert b.check().returncode == 0
    assert writes(b.commands(), 'AT+QCFG="band",') == [
        'AT+QCFG="band",3,{:X},{:X},1'.format(*BG95_M3_BANDS[1:])]


def test_a_band_the_module_lacks_is_a_note_not_a_failure(bench):
    b = bench(model="BG77")
    with_network(b, "  bands:\n    egprs: [900]\n")  # a BG77 has no GSM at all
    result = b.check("--json")
    assert result.returncode == 0, result.stderr
    assert "refused" in radio_step(result.stdout) and nv(b).bands[0] == 0


def test_band_write_planning():
    from bg_pppd.modem import radio_settings

    current = (0xF, 0x100002000000000F0E189F, 0x10004200000000090E189F)
    assert radio_settings.band_write(current, ()) is None
    command, changes = radio_settings.band_write(current, (("catm1", (20,)),))
    assert command == 'AT+QCFG="band",F,80000,10004200000000090E189F,1'
    assert changes == ["catm1 bands 1,2,3,4,5,8,12,13,18,19,20,25,26,27,28,66,85 -> 20"]
    assert radio_settings.band_write((0x3, 0x80000, 0x80), (("egprs", (900, 1800)), ("catm1", (20,)),
                                                            ("nbiot", (8,)))) is None
    assert radio_settings.band_mask("egprs", (850, 1900)) == 0xC
    assert radio_settings.band_mask("catm1", (85,)) == 1 << 84


# ----- PSM and eDRX ----------------------------------------------------------------------------

def test_psm_and_edrx_switched_off_only_when_on(bench):
    b = bench(model="BG77", psm=True, edrx=[4, 5])
    first = b.check("--json")
    assert first.returncode == 0, first.stderr
    assert writes(b.commands(), "AT+CPSMS=") == ["AT+CPSMS=0"]
    assert writes(b.commands(), "AT+CEDRXS=") == ["AT+CEDRXS=0"]
    assert (nv(b).psm, nv(b).edrx) == (False, {})
    assert "PSM on->off" in radio_step(first.stdout) and "eDRX on (AcT 4,5)->off" in radio_step(first.stdout)
    done = len(b.commands())
    assert b.check().returncode == 0
    again = b.commands()[done:]
    assert "AT+CPSMS?" in again and "AT+CEDRXS?" in again
    assert writes(again, "AT+CPSMS=") == writes(again, "AT+CEDRXS=") == [], "already off: not written"


def test_psm_off_already_means_no_write(bench):
    b = bench(psm=False, edrx=[])
    assert b.check().returncode == 0
    assert "AT+CPSMS?" in b.commands() and not writes(b.commands(), "AT+CPSMS=")
    assert not writes(b.commands(), "AT+CEDRXS=")


def test_psm_keep_leaves_the_module_alone(bench):
    b = bench(model="BG77", psm=True, edrx=[4])
    with_network(b, "  psm: keep\n")
    assert b.check().returncode == 0
    assert not [c for c in b.commands() if c.startswith(("AT+CPSMS", "AT+CEDRXS"))]
    assert nv(b).psm is True


def test_no_psm_commands_is_a_note(bench):
    b = bench(replies={"AT+CPSMS?": ["ERROR"], "AT+CEDRXS?": ["ERROR"]})
    result = b.check("--json")
    assert result.returncode == 0, result.stderr
    status = radio_step(result.stdout)
    assert "no PSM setting (AT+CPSMS?: ERROR)" in status and "no eDRX setting (AT+CEDRXS?: ERROR)" in status


# ----- what this firmware has ------------------------------------------------------------------

NO_NWSCANMODE = ["servicedomain", "nwscanseq", "band", "iotopmode", "celevel"]


def test_firmware_without_nwscanmode_passes_with_a_note(bench):
    b = bench(model="BG95-M3", qcfg_settings=NO_NWSCANMODE)
    with_network(b, "  technologies: [catm1]\n")
    result = b.check("--json")
    assert result.returncode == 0, result.stderr
    assert "AT+QCFG=?" in b.commands()
    assert not [c for c in b.commands() if "nwscanmode" in c], "neither read nor written"
    assert 'AT+QCFG="iotopmode",0,1' in b.commands()
    assert "no nwscanmode on this firmware" in radio_step(result.stdout)


def test_settings_listed_by_the_firmware_are_the_ones_set(bench):
    b = bench(model="BG95-M3")
    with_network(b, "  technologies: [catm1]\n")
    assert b.check().returncode == 0
    assert 'AT+QCFG="nwscanmode",3,1' in b.commands()


def test_scan_settings_are_applied_again_after_cops_0(bench):
    """What the registration step calls after AT+COPS=0 (which resets nwscanmode on some firmware)."""
    b = bench(model="BG95-M3")
    with_network(b, "  technologies: [catm1]\n")
    pre = Preflight(load_profile(b.profile), state_dir=b.state)
    try:
        for step in (pre.step_port, pre.step_sync, pre.step_setup, pre.step_radio):
            step()
        assert b.emu.loop.call(lambda: b.emu.modem.network.qcfg["nwscanmode"]) == 3
        b.emu.loop.call(lambda: b.emu.modem.network.qcfg.update(nwscanmode=0))  # what COPS=0 did
        assert pre.apply_radio().startswith("nwscanmode 0->3")
        assert pre.apply_radio().startswith("already set")
        assert b.commands().count("AT+QCFG=?") == 1, "asked once per module"
    finally:
        pre.close()


# ----- firmware identity -----------------------------------------------------------------------

def test_firmware_id_in_check_json_and_text(bench):
    b = bench(firmware="BG95M3LAR02A03_01.204.01.204")
    result = b.check("--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["firmware"] == "BG95M3LAR02A03_01.204.01.204" and report["revision"] == "BG95M3LAR02A03"
    assert "AT+QGMR" in b.commands()
    text = b.check()
    assert "firmware:     BG95M3LAR02A03_01.204.01.204" in text.stdout


def test_firmware_id_is_read_from_qgmr_not_cgmr(bench):
    b = bench()  # the emulator's default id: the revision and a build number
    result = b.check("--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["firmware"] == "BG95M3LAR02A03_01.200.01.200"
    assert "AT+CGMR" not in b.commands()


def test_firmware_unknown_when_qgmr_is_refused(bench):
    b = bench(replies={"AT+QGMR": ["ERROR"]})
    result = b.check("--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["firmware"] is None


# ----- signal and technology names -------------------------------------------------------------

def test_bg96_names_parsed(bench):
    b = bench(model="BG96", revision="BG96MAR02A07M1G")
    result = b.check("--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["signal"]["sysmode"] == "CAT-M1" and report["signal"]["rsrp_dbm"] == -93
    assert report["access_technology"] == "CAT-M1" and report["firmware"] == "BG96MAR02A07M1G_01.200.01.200"


def test_bg95_emtc_name_in_qnwinfo_reported_as_cat_m1(bench):
    b = bench(replies={"AT+QNWINFO": ['+QNWINFO: "eMTC","26202","LTE BAND 20",6300', "OK"]})
    result = b.check("--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["access_technology"] == "CAT-M1"


def test_csq_99_on_lte_m_and_the_signal_from_qcsq(bench):
    b = bench(csq_on_lte=False)
    result = b.check("--json")
    assert result.returncode == 0, result.stderr
    signal = json.loads(result.stdout)["signal"]
    assert signal["rssi_dbm"] == -73 and signal["rsrp_dbm"] == -93 and signal["sysmode"] == "eMTC"
    assert 99 not in signal.values()


class Answers:
    """Canned module answers for read_radio: {command: (ok, [lines])}."""

    def __init__(self, answers: dict[str, tuple[bool, list[str]]]):
        self.answers, self.sent = answers, []

    def __call__(self, command: str, prefix: str):
        self.sent.append(command)
        ok, lines = self.answers.get(command, (False, []))
        return _Response(ok, lines)


class _Response:
    def __init__(self, ok: bool, lines: list[str]):
        self.ok, self.info, self.final = ok, lines, "OK" if ok else "ERROR"

    def first(self, prefix: str) -> str | None:
        return next((line for line in self.info if line.startswith(prefix)), None)


@pytest.mark.parametrize("qcsq, expect", [
    ((True, ['+QCSQ: "eMTC",-71,-93,160,-10']), {"rssi_dbm": -71, "rsrp_dbm": -93}),
    ((True, ['+QCSQ: "CAT-M1",-71,-93,160,-10']), {"rssi_dbm": -71, "rsrp_dbm": -93}),
    ((True, ['+QCSQ: "NBIOT",-80,-101,100,-12']), {"rssi_dbm": -80, "rsrp_dbm": -101}),
    ((True, ['+QCSQ: "NOSERVICE"']), {}),
    ((False, []), {}),
    ((True, ['+QCSQ: "GSM",99']), {}),
])
def test_lte_m_signal_is_qcsqs_and_99_is_never_a_signal(qcsq, expect):
    cmd = Answers({"AT+QCSQ": qcsq, "AT+CSQ": (True, ["+CSQ: 99,99"]),
                   "AT+QNWINFO": (True, ['+QNWINFO: "eMTC","26202","LTE BAND 20",6300'])})
    found = radio.read_radio(cmd)
    got = {k: v for k, v in found["signal"].items() if k in ("rssi_dbm", "rsrp_dbm")}
    assert got == expect and found["access_technology"] == "CAT-M1"
    assert 99 not in found["signal"].values()
    if expect:
        assert "AT+CSQ" not in cmd.sent, "+QCSQ had it"


def test_csq_is_the_fallback_where_qcsq_has_nothing():
    cmd = Answers({"AT+CSQ": (True, ["+CSQ: 20,99"])})
    assert radio.read_radio(cmd)["signal"] == {"rssi_dbm": -73}


# ----- CMUX: URCs on the AT channel ---------------------------------------------------------------

def test_a_cmux_profile_routes_urcs_to_the_at_channel_once(bench):
    """AT+QCFG="cmux/urcport",1 in the radio step (the raw UART, before AT+CMUX): written once, like
    every flash setting; a profile without the mux leaves it alone."""
    b = bench(model="BG95-M3")
    plain = b.check("--json")
    assert plain.returncode == 0, plain.stderr
    assert not [c for c in b.commands() if "cmux/urcport" in c]
    b.profile.write_text(b.profile.read_text().replace("modem:\n", "modem:\n  multiplex: cmux\n", 1))
    done = len(b.commands())
    first = b.check("--json")
    assert first.returncode == 0, first.stderr
    assert writes(b.commands()[done:], 'AT+QCFG="cmux/urcport",') == ['AT+QCFG="cmux/urcport",1']
    assert "cmux/urcport 0->1" in radio_step(first.stdout)
    done = len(b.commands())
    assert b.check("--json").returncode == 0
    assert 'AT+QCFG="cmux/urcport"' in b.commands()[done:], "read again"
    assert writes(b.commands()[done:], 'AT+QCFG="cmux/urcport",') == [], "already set"
