"""The virtual module's registration under interventions, on the virtual clock (ms): AT+COPS=0
starts a new search (and resets nwscanmode where the firmware does), a search stuck until
AT+COPS=0 or the radio off/on, a denial that AT+COPS=0 mends, and the BG600L's two domains.
"""

from __future__ import annotations

import pytest

from bg_pppd.emulator.scenario import Scenario
from tests.test_emulator_model import command, model, urcs


def test_cops_0_starts_a_new_search_and_the_timeline_plays_from_it():
    modem, io = model(echo=False, stuck_until="cops", registration=[[0, 2], [3, 1]], cfun_delay=0.3)
    command(modem, io, "AT+CEREG=2")
    io.advance(60)
    assert command(modem, io, "AT+CEREG?") == b"\r\n+CEREG: 2,2\r\n\r\nOK\r\n", "stuck: searching after a minute"
    cops = io.mark()
    assert command(modem, io, "AT+COPS=0", wait=0.3) == b"\r\nOK\r\n"
    io.advance(5)
    assert urcs(io, cops) == [(3001, b'+CEREG: 1,"1A2B","01A2D001",8')], "3 s after AT+COPS=0, as a URC"
    assert (cops[1], "event", "cops=0: no longer stuck, search restarted") in io.events


def test_cops_0_while_registered_keeps_the_registration():
    modem, io = model(echo=False, registration=[[0, 2], [1, 1]])
    io.advance(2)
    command(modem, io, "AT+COPS=0", wait=0.3)
    assert command(modem, io, "AT+CEREG?") == b"\r\n+CEREG: 0,1\r\n\r\nOK\r\n"


@pytest.mark.parametrize("model_name, resets, key, expected", [
    ("BG95-M3", None, 3, 0),     # the BG95 family resets it (Particle PR 2112)
    ("BG96", None, 3, 3),        # others keep it unless the scenario says so
    ("BG95-M3", False, 3, 3),
    ("BG96", True, 1, 0),
])
def test_cops_0_resets_nwscanmode_where_the_firmware_does(model_name, resets, key, expected):
    modem, io = model(echo=False, model=model_name, cops_resets_scanmode=resets, nwscanmode=key)
    command(modem, io, "AT+COPS=0", wait=0.3)
    assert command(modem, io, 'AT+QCFG="nwscanmode"') == f'\r\n+QCFG: "nwscanmode",{expected}\r\n\r\nOK\r\n'.encode()


def test_stuck_until_cfun_survives_cops_0_and_ends_with_the_radio_off_and_on():
    modem, io = model(echo=False, stuck_until="cfun", registration=[[0, 2], [2, 1]], cfun_delay=0.32)
    io.advance(10)
    command(modem, io, "AT+COPS=0", wait=0.32)
    io.advance(10)
    assert command(modem, io, "AT+CEREG?") == b"\r\n+CEREG: 0,2\r\n\r\nOK\r\n", "AT+COPS=0 does not mend it"
    command(modem, io, "AT+CFUN=0", wait=0.32)
    assert command(modem, io, "AT+CEREG?") == b"\r\n+CEREG: 0,0\r\n\r\nOK\r\n"
    command(modem, io, "AT+CEREG=1")
    on = io.mark()
    command(modem, io, "AT+CFUN=1", wait=0.32)
    io.advance(3)
    assert urcs(io, on) == [(320, b"+CEREG: 2"), (2001, b"+CEREG: 1")], "the timeline from AT+CFUN=1"


def test_a_denial_until_cops_0_then_the_timeline():
    modem, io = model(echo=False, stuck_until="cops", stuck_stat=3, registration=[[0, 2], [1, 5]])
    io.advance(5)
    assert command(modem, io, "AT+CEREG?") == b"\r\n+CEREG: 0,3\r\n\r\nOK\r\n"
    command(modem, io, "AT+COPS=0", wait=0.2)
    io.advance(1)
    assert command(modem, io, "AT+CEREG?") == b"\r\n+CEREG: 0,5\r\n\r\nOK\r\n"


def test_bg600l_on_egprs_says_registered_on_cgreg_and_unknown_on_cereg():
    modem, io = model(echo=False, model="BG600L-M3", rat="gsm", registration=[[0, 2], [1, 1]])
    command(modem, io, "AT+CEREG=2")
    command(modem, io, "AT+CGREG=2")
    start = io.mark()
    io.advance(2)
    assert urcs(io, start) == [(1001, b"+CEREG: 4"), (1001, b'+CGREG: 1,"1A2B","01A2D001",3')]
    assert command(modem, io, "AT+CEREG?") == b"\r\n+CEREG: 2,4\r\n\r\nOK\r\n"


@pytest.mark.parametrize("data, message", [
    ({"stuck_until": "reset"}, "stuck_until: must be none | cops | cfun"),
    ({"stuck_stat": 1}, "stuck_stat: must be 0, 2, 3 or 4"),
    ({"cops_resets_scanmode": "yes"}, "cops_resets_scanmode: must be true, false or null"),
])
def test_the_new_scenario_keys_are_checked(data, message):
    with pytest.raises(ValueError, match=message):
        Scenario.from_dict(data)
