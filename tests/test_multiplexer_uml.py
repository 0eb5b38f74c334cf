"""The CMUX host side (bg_pppd.modem.multiplexer) on the real kernel's n_gsm, in the UML lab.

The guest insmods n_gsm and runs the product's Mux on a pseudo-terminal slave; the master side
answers what a module must for DLCs to open (OK, UA) and shows every byte the kernel sends.
"""

from __future__ import annotations

from bg_pppd.modem import multiplexer as mux
from tests.uml import skip_without_uml
from tests.uml_scenarios import multiplexer

pytestmark = skip_without_uml()


def test_mux_on_the_real_n_gsm(lab):
    r = lab.call(multiplexer.mux_on_n_gsm, timeout=120)
    # before insmod: no gsmtty, and modprobe cannot load it (the guest has no /lib/modules)
    assert r["before"] and "CONFIG_N_GSM" in r["before"]
    assert r["after"] is None
    # the ioctls on a pty slave: initiator, basic option, SABM on DLC 0 at once
    assert r["sabm_dlc0"] is True
    assert r["sent_before_mux"] == "AT+CMUX=0,0,5,127"
    assert r["discipline"] == mux.N_GSM0710
    # GETFIRST names DLC 1's device (the first mux: /dev/gsmtty1; DLC 0 has none)
    assert r["first_minor"] == 1
    first = r["mux_first"]
    assert r["at_device"] == f"/dev/gsmtty{first}" and r["data_device"] == f"/dev/gsmtty{first + 1}"
    assert r["devices_exist"] == [True, True]
    # opening the AT device opens DLC 1; what is written to it goes out as UIH on DLC 1
    assert r["sabm_dlc1"] is True
    assert r["uih_at_on_dlc1"] is True, r["uih_at_sent"]
    # the kernel (6.1) sends nothing when n_gsm is detached: the close-down is the product's to send
    assert r["kernel_on_detach"] == ""
    # close: the product's CLD and DISC on DLC 0 reach the raw line, then plain AT gets OK
    assert r["close"] is True and r["close_again"] is True
    after = bytes.fromhex(r["after_close"])
    assert mux.close_down_frame() in after and mux.disconnect_frame(0) in after
    assert after.endswith(b"AT\r")
    print("kernel on detach:", r["kernel_on_detach"] or "(nothing)", "| open", r["open_s"], "s, close",
          r["close_s"], "s")


def test_mux_with_the_virtual_module(lab):
    r = lab.call(multiplexer.mux_with_the_emulator, timeout=120)
    assert r["at_device"] == "/dev/gsmtty1" and r["data_device"] == "/dev/gsmtty2"
    # AT over DLC 1 through the kernel's n_gsm and the module's own mux
    assert r["ati"][:2] == ["Quectel", "BG95-M3"] and r["cgmr"] == "OK"
    assert r["close"] is True
    assert "AT+CMUX=0,0,5,127" in r["commands"]
    # left multiplexing: a plain AT gets nothing that is an answer; close_leftover mends it
    assert "4f 4b" not in r["left_answer"]  # no "OK"
    assert r["leftover"] is True and r["leftover_plain"] is True
    print("open", r["open_s"], "s; AT sync", r["sync_s"], "s; ATI+CGMR", r["at_round_trip_s"], "s; close",
          r["close_s"], "s; leftover", r["leftover_s"], "s; leftover when plain", r["leftover_plain_s"], "s;",
          "answer when left:", r["left_answer"] or "(nothing)", r["left_looks_like_mux"])
