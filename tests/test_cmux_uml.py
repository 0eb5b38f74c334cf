"""The virtual module's CMUX against the Linux kernel's own n_gsm, in the UML lab (issue 18).

A real implementation written elsewhere drives the emulator: n_gsm as initiator on the
emulator's pty (basic option, MRU/MTU 127), AT on /dev/gsmtty1, a real pppd dialling and
running PPP on /dev/gsmtty2 against the module's network-side pppd, a ping across; then N_TTY
again and the close-down frame: the raw UART answers AT. So framing, FCS, MSC and UIH agree
with the kernel's (if they disagreed, the kernel would be right).
"""

from __future__ import annotations

from tests.uml import skip_without_uml
from tests.uml_scenarios import cmux

pytestmark = skip_without_uml()


def test_kernel_n_gsm_carries_at_and_ppp_through_the_emulators_mux(lab):
    r = lab.call(cmux.kernel_mux, timeout=240)
    assert r["insmod"] == 0, r["insmod_err"]
    assert r["cmux_answer"].endswith("\r\nOK\r\n")
    assert r["devices"] == [True, True], r
    mux = [text for _t, kind, text in r["events"] if kind == "mux"]
    # what the kernel sent first: SABM on DLC 0 (no PN before it), then SABM on DLC 1 and its MSC;
    # a frame sent again in a row is the kernel's T1 retransmission (a UA late on a loaded guest)
    sent = [text for text in mux if text.startswith("mux <- ")]
    distinct = [text for i, text in enumerate(sent) if i == 0 or text != sent[i - 1]]
    assert distinct[:2] == ["mux <- SABM(P/F) DLC 0", "mux <- SABM(P/F) DLC 1"], mux[:10]
    assert mux[1:3] == ["mux -> UA(P/F) DLC 0", "mux: control channel open (SABM on DLC 0)"], mux[:10]
    assert mux[mux.index("mux <- SABM(P/F) DLC 1") + 1] == "mux -> UA(P/F) DLC 1", mux[:10]
    assert "mux <- MSC command 078d" in mux, "the kernel's MSC for DLC 1: RTC, RTR, DV"
    assert "mux: DLC 1 open" in mux and "mux: DLC 2 open" in mux
    assert not any("bad frames" in t for t in mux), "every frame the kernel sent passed the FCS check"
    assert r["at_answer"].endswith("\r\nOK\r\n"), r["at_answer"]
    assert r["urcport_answer"].endswith("\r\nOK\r\n")
    assert '+CMTI: "ME",1' in r["urc"], "the URC arrived on gsmtty1"
    assert r["ppp_address"] == "10.64.64.2", r["client_log"]
    assert r["ping_rc"] == 0, r["ping"]
    assert "+CSQ: 20,99" in r["at_during_ppp"], "AT on DLC 1 while PPP runs on DLC 2"
    assert "rcvd [LCP TermReq" in r["network_log"], "pppd ended with LCP Terminate-Request"
    commands = [text for _t, kind, text in r["events"] if kind == "cmd"]
    assert "ATD*99#" in commands
    assert r["cld_answer"].startswith("f901ef05c101"), r["cld_answer"]  # the CLD response
    assert any("closed down (CLD)" in t for t in mux)
    assert r["plain_at"].endswith("AT\r\r\nOK\r\n"), r["plain_at"]


def test_the_hosts_last_close_leaves_n_tty_and_the_module_multiplexing(lab):
    """A UART's final close releases n_gsm; the emulator's pty does the same (bg_pppd/emulator/
    last_close.py), so a daemon killed mid-mux does not leave the next open a tty in n_gsm."""
    r = lab.call(cmux.left_in_mux, timeout=120)
    assert r["insmod"] == 0, r["insmod_err"]
    assert r["cmux_answer"].endswith("\r\nOK\r\n")
    assert r["discipline_before"] == 21, "n_gsm attached"
    assert r["discipline_after"] == 0, "N_TTY at the next open, as on a UART"
    assert b"OK" not in bytes.fromhex(r["plain_at"]), "the module still multiplexes: no answer to AT"
    assert r["cld_answer"].startswith("f901ef05c101"), r["cld_answer"]
    assert r["at_after_cld"].endswith("AT\r\r\nOK\r\n"), r["at_after_cld"]
    events = [text for _t, kind, text in r["events"] if kind == "event"]
    assert "modem port: the host's last close, line discipline 21 -> N_TTY (as a UART's)" in events
