"""The per-module, per-firmware table (modem.module_quirks), the parsers of the radio settings'
answers, and the virtual module's side of them over its model on a virtual clock."""

from __future__ import annotations

import pytest

from bg_pppd.modem import at_replies as atparse
from bg_pppd.modem import module_quirks as quirks
from tests.test_emulator_model import command, model

# ----- the table -------------------------------------------------------------------------------


@pytest.mark.parametrize("name, firmware, has_gsm, has_nwscanmode, names, cops_resets", [
    ("BG95-M3", "BG95M3LAR02A03_01.204.01.204", True, True, ("eMTC", "NBIoT"), False),
    ("BG95-M1", "BG95M1LAR02A03_01.200.01.200", False, False, ("eMTC", "NBIoT"), False),
    ("BG77", "", False, False, ("eMTC", "NBIoT"), False),
    ("BG96", "BG96MAR02A07M1G_01.016.01.016", True, True, ("CAT-M1", "CAT-NB1"), True),
    ("BG600L-M3", "", True, True, ("eMTC", "NBIoT"), False),
    ("", "", True, True, ("eMTC", "NBIoT"), False),
])
def test_lookup(name, firmware, has_gsm, has_nwscanmode, names, cops_resets):
    q = quirks.lookup(name, firmware)
    assert (q.name, q.firmware) == (name, firmware)
    assert (q.has_gsm, q.has_nwscanmode, q.sysmodes, q.cops_resets_nwscanmode) == (
        has_gsm, has_nwscanmode, names, cops_resets)


def test_a_firmware_row_refines_its_models_row():
    table = (("BG95", "", {"has_nwscanmode": True}),
             ("BG95-M3", "BG95M3LAR02A03_01.1", {"has_nwscanmode": False}))
    assert quirks.lookup("BG95-M3", "BG95M3LAR02A03_01.102.01.102", table).has_nwscanmode is False
    assert quirks.lookup("BG95-M3", "BG95M3LAR02A03_01.204.01.204", table).has_nwscanmode is True
    assert quirks.lookup("BG95-M3", "", table).has_nwscanmode is True, "unknown firmware: the model's row"
    assert quirks.lookup("bg95-m3", "bg95m3lar02a03_01.102", table).has_nwscanmode is False


def test_the_table_names_only_known_fields():
    fields = set(quirks.Model.__dataclass_fields__)
    for model_prefix, firmware_prefix, differs in quirks.TABLE:
        assert set(differs) <= fields, (model_prefix, firmware_prefix)


# ----- parsers ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name, expect", [
    ("eMTC", "CAT-M1"), ("CAT-M1", "CAT-M1"), ("EMTC", "CAT-M1"), ("NBIoT", "CAT-NB1"), ("CAT-NB1", "CAT-NB1"),
    ("NBIOT", "CAT-NB1"), ("GSM", "GSM"), ("EGPRS", "EGPRS"), ("NOSERVICE", None), ("", None), (None, None),
    ("Something new", "Something new"),
])
def test_technology_names(name, expect):
    assert atparse.technology(name) == expect


def test_qcsq_bg96_names_and_no_99():
    assert atparse.parse_qcsq('+QCSQ: "CAT-M1",-52,-81,195,-10') == {
        "sysmode": "CAT-M1", "rssi_dbm": -52, "rsrp_dbm": -81, "sinr_db": 19.0, "rsrq_db": -10}
    assert atparse.parse_qcsq('+QCSQ: "CAT-NB1",-60,-90,100,-11')["rsrp_dbm"] == -90
    assert atparse.parse_qcsq('+QCSQ: "GSM",99') == {"sysmode": "GSM"}


def test_band_and_setting_list_parsers():
    assert atparse.parse_qcfg_band('+QCFG: "band",0xf,0x100002000000000f0e189f,0x10004200000000090e189f') == (
        0xF, 0x100002000000000F0E189F, 0x10004200000000090E189F)
    assert atparse.parse_qcfg_band('+QCFG: "band",0x0,0x80084,0x80084') == (0, 0x80084, 0x80084)
    assert atparse.parse_qcfg_band('+QCFG: "band",F,80084,80084') == (0xF, 0x80084, 0x80084)
    assert atparse.parse_qcfg_band('+QCFG: "band",0xbff,0x1e00b0e18df') is None, "an EC25's: not ours"
    assert atparse.parse_qcfg_band('+QCFG: "iotopmode",2') is None
    listed = atparse.parse_qcfg_list(['+QCFG: "nwscanmode",(0,1,3),(0,1)', '+QCFG: "bandrestore"',
                                      '+QCFG: "band",(0-F),(0-0x100002000000000F0E189F),(0-0x1),(0,1)',
                                      '+QCFG: "psm/urc",(0,1)', "OK"])
    assert listed == {"nwscanmode", "bandrestore", "band", "psm/urc"}
    assert atparse.parse_cpsms('+CPSMS: 1,,,"00000100","00001111"') == 1
    assert atparse.parse_cpsms("+CPSMS: 0") == 0
    assert atparse.parse_cedrxs('+CEDRXS: 4,"0101"') == (4, "0101")
    assert atparse.parse_cedrxs("+CEDRXS: 0") is None and atparse.parse_cedrxs("+CEDRXS:") is None


# ----- the virtual module ----------------------------------------------------------------------

def test_emulator_lists_the_bg95_m3_settings():
    modem, io = model(echo=False)
    out = command(modem, io, "AT+QCFG=?")
    assert b'\r\n+QCFG: "nwscanmode",(0,1,3),(0,1)\r\n' in out
    assert b'\r\n+QCFG: "band",(0-F),(0-0x100002000000000F0E189F),(0-0x10004200000000090E189F),(0,1)\r\n' in out
    assert out.endswith(b"\r\nOK\r\n")


def test_emulator_firmware_without_nwscanmode():
    modem, io = model(echo=False, qcfg_settings=["nwscanseq", "iotopmode", "band"])
    assert b"nwscanmode" not in command(modem, io, "AT+QCFG=?")
    assert command(modem, io, 'AT+QCFG="nwscanmode"') == b"\r\nERROR\r\n"
    assert command(modem, io, 'AT+QCFG="nwscanmode",3,1') == b"\r\nERROR\r\n"
    assert command(modem, io, 'AT+QCFG="iotopmode"') == b'\r\n+QCFG: "iotopmode",2\r\n\r\nOK\r\n'


def test_emulator_models_without_gsm_have_no_nwscanmode():
    modem, io = model(echo=False, model="BG77")
    assert command(modem, io, 'AT+QCFG="nwscanmode"') == b"\r\nERROR\r\n"
    assert command(modem, io, 'AT+QCFG="band"') == (
        b'\r\n+QCFG: "band",0x0,0x100002000000000f0e189f,0x10004200000000090e189f\r\n\r\nOK\r\n')


def test_emulator_band_read_write():
    modem, io = model(echo=False, band_masks=["0xf", "0x80084", "0x80084"])
    assert command(modem, io, 'AT+QCFG="band"') == b'\r\n+QCFG: "band",0xf,0x80084,0x80084\r\n\r\nOK\r\n'
    assert command(modem, io, 'AT+QCFG="band",3,80000,0,1') == b"\r\nOK\r\n"
    assert b'"band",0x3,0x80000,0x80084' in command(modem, io, 'AT+QCFG="band"'), "0: that one unchanged"
    assert command(modem, io, 'AT+QCFG="band",0x10,0,0,1') == b"\r\nERROR\r\n", "no such GSM band"
    assert command(modem, io, 'AT+QCFG="band",1,2') == b"\r\nERROR\r\n"
    modem.reboot("reset")
    io.advance(10)
    assert b'"band",0x3,0x80000,0x80084' in command(modem, io, 'AT+QCFG="band"'), "kept in flash"


def test_emulator_psm_and_edrx():
    modem, io = model(echo=False, psm=True, edrx=[4])
    assert command(modem, io, "AT+CPSMS?") == b'\r\n+CPSMS: 1,,,"00000100","00001111"\r\n\r\nOK\r\n'
    assert command(modem, io, "AT+CEDRXS?") == b'\r\n+CEDRXS: 4,"0101"\r\n\r\nOK\r\n'
    assert command(modem, io, "AT+CPSMS=0") == b"\r\nOK\r\n"
    assert command(modem, io, "AT+CEDRXS=0") == b"\r\nOK\r\n"
    assert command(modem, io, "AT+CPSMS?").startswith(b"\r\n+CPSMS: 0,")
    assert command(modem, io, "AT+CEDRXS?") == b"\r\nOK\r\n", "no AcT with eDRX: no lines"
    assert command(modem, io, 'AT+CEDRXS=2,5,"0010"') == b"\r\nOK\r\n"
    assert command(modem, io, "AT+CEDRXS?") == b'\r\n+CEDRXS: 5,"0010"\r\n\r\nOK\r\n'
    assert command(modem, io, "AT+CEDRXS=1") == b"\r\nERROR\r\n"


def test_emulator_bg77_is_delivered_with_psm_on():
    modem, io = model(echo=False, model="BG77")
    assert command(modem, io, "AT+CPSMS?").startswith(b"\r\n+CPSMS: 1,")
    modem, io = model(echo=False)
    assert command(modem, io, "AT+CPSMS?").startswith(b"\r\n+CPSMS: 0,")


def test_emulator_qgmr():
    modem, io = model(echo=False, revision="BG95M3LAR02A03")
    assert command(modem, io, "AT+QGMR") == b"\r\nBG95M3LAR02A03_01.200.01.200\r\n\r\nOK\r\n"
    assert command(modem, io, "AT+CGMR") == b"\r\nBG95M3LAR02A03\r\n\r\nOK\r\n"
    modem, io = model(echo=False, firmware="BG95M3LAR02A03_01.204.01.204")
    assert command(modem, io, "AT+QGMR") == b"\r\nBG95M3LAR02A03_01.204.01.204\r\n\r\nOK\r\n"


def test_emulator_bg96_names():
    modem, io = model(echo=False, model="BG96", revision="BG96MAR02A07M1G")
    assert command(modem, io, "AT+QCSQ") == b'\r\n+QCSQ: "CAT-M1",-73,-93,160,-10\r\n\r\nOK\r\n'
    assert command(modem, io, "AT+QNWINFO").startswith(b'\r\n+QNWINFO: "CAT-M1","26202"')
    modem, io = model(echo=False, model="BG96", rat="nbiot")
    assert command(modem, io, "AT+QCSQ").startswith(b'\r\n+QCSQ: "CAT-NB1",')


def test_emulator_csq_99_on_lte_m():
    modem, io = model(echo=False, csq_on_lte=False)
    assert command(modem, io, "AT+CSQ") == b"\r\n+CSQ: 99,99\r\n\r\nOK\r\n"
    assert command(modem, io, "AT+QCSQ").startswith(b'\r\n+QCSQ: "eMTC",-73,')
    modem, io = model(echo=False, csq_on_lte=False, rat="gsm", nwscanmode=0)
    assert command(modem, io, "AT+CSQ") == b"\r\n+CSQ: 20,99\r\n\r\nOK\r\n", "GSM: the RSSI"
