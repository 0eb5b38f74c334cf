"""Pure parsers for the module's answers, tested from tables of real lines.

Each takes the text of one information line and returns plain values, or
None when the line is not of that form; nothing here touches a port.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

FINAL_RE = re.compile(r"^(OK|ERROR|\+CME ERROR:.*|\+CMS ERROR:.*|NO CARRIER|CONNECT.*|BUSY|NO ANSWER|"
                      r"NO DIALTONE)$")
URC_PREFIXES = ("RDY", "APP RDY", "POWERED DOWN", "+CFUN:", "+CPIN:", "+QUSIM:", "+QIND:", "+CEREG:",
                "+CGREG:", "+CREG:", "+CMTI:", "RING", "+QIURC:", "+QSIMSTAT:", "+CTZV:", "+QNTP:",
                "+CGEV:", "NO CARRIER", "+QPSMTIMER:", "+CPSMS:", "+QCSQ:")

# 3GPP TS 27.007 9.2: the codes we act on, and the texts AT+CMEE=2 uses for them.
CME_CODES = {
    "operation not allowed": 3, "operation not supported": 4, "sim not inserted": 10,
    "sim pin required": 11, "sim puk required": 12, "sim failure": 13, "sim busy": 14,
    "sim wrong": 15, "incorrect password": 16, "sim pin2 required": 17, "sim puk2 required": 18,
    "no network service": 30, "network timeout": 31, "incorrect parameters": 50, "unknown": 100,
}
# The registration vocabulary: one word for each <stat> of +CREG/+CGREG/+CEREG (3GPP TS 27.007
# 7.2), used alike by the pre-flight's report, the radio monitor, `check` and `status`.
NOT_REGISTERED, HOME, SEARCHING, DENIED, UNKNOWN, ROAMING = (
    "not registered", "home", "searching", "denied", "unknown", "roaming")
REGISTRATION = {0: NOT_REGISTERED, 1: HOME, 2: SEARCHING, 3: DENIED, 4: UNKNOWN, 5: ROAMING}
REGISTERED = (HOME, ROAMING)
ACT_NAMES = {0: "GSM", 3: "EGPRS", 7: "LTE", 8: "LTE Cat-M1", 9: "NB-IoT"}


def is_final(line: str) -> bool:
    return bool(FINAL_RE.match(line))


def cme_code(final: str) -> int | None:
    """``+CME ERROR: 16`` or ``+CME ERROR: incorrect password`` -> 16; None if not a CME error.

    ``+CMS ERROR`` (27.005, the SMS commands) numbers other things: its 13 is
    no SIM failure, so it has no CME code.
    """
    m = re.match(r"^\+CME ERROR:\s*(.*)$", final)
    if not m:
        return None
    value = m.group(1).strip()
    if value.isdigit():
        return int(value)
    return CME_CODES.get(value.lower(), 100)


def _fields(line: str, prefix: str) -> list[str] | None:
    if not line.startswith(prefix):
        return None
    return [f.strip().strip('"') for f in line[len(prefix):].split(",")]


def parse_cpin(line: str) -> str | None:
    """``+CPIN: READY`` -> ``READY``; ``+CPIN: SIM PIN`` -> ``SIM PIN``."""
    return line[len("+CPIN:"):].strip() if line.startswith("+CPIN:") else None


@dataclass(frozen=True)
class Registration:
    stat: int
    tac: str = ""
    ci: str = ""
    act: int | None = None

    @property
    def word(self) -> str:
        """The registration vocabulary's word: ``home``, ``roaming``, ``denied``, ..."""
        return REGISTRATION.get(self.stat, f"state {self.stat}")

    @property
    def registered(self) -> bool:
        return self.word in REGISTERED

    @property
    def denied(self) -> bool:
        return self.word == DENIED

    @property
    def text(self) -> str:
        """For a log line: ``registered (home)``, ``registration denied``, ``searching``."""
        if self.registered:
            return f"registered ({self.word})"
        return "registration denied" if self.denied else self.word


def parse_reg(line: str, name: str = "+CEREG") -> Registration | None:
    """Read ``+CEREG: <n>,<stat>[,...]`` (answer) and ``+CEREG: <stat>[,...]`` (URC) alike.

    The answer carries n first; a URC does not. With n=2 both forms carry
    tac and ci (quoted), which tell them apart from a bare n,stat.
    """
    fields = _fields(line, f"{name}:")
    if not fields or not all(f.isdigit() for f in fields[:1]):
        return None
    raw = line[len(name) + 1:].split(",")
    quoted_at = next((i for i, f in enumerate(raw) if f.strip().startswith('"')), None)
    if quoted_at is not None:
        stat_index = quoted_at - 1
    else:
        stat_index = 1 if len(fields) >= 2 else 0
    try:
        stat = int(fields[stat_index])
    except (ValueError, IndexError):
        return None
    tac = fields[stat_index + 1] if len(fields) > stat_index + 1 else ""
    ci = fields[stat_index + 2] if len(fields) > stat_index + 2 else ""
    act = fields[stat_index + 3] if len(fields) > stat_index + 3 else ""
    return Registration(stat, tac, ci, int(act) if act.isdigit() else None)


@dataclass(frozen=True)
class Operator:
    name: str
    act: int | None

    @property
    def act_name(self) -> str:
        return ACT_NAMES.get(self.act, "") if self.act is not None else ""


def parse_cops(line: str) -> Operator | None:
    fields = _fields(line, "+COPS:")
    if fields is None or len(fields) < 3:
        return None
    act = fields[3] if len(fields) > 3 and fields[3].isdigit() else None
    return Operator(fields[2], int(act) if act else None)


def parse_csq(line: str) -> tuple[int | None, int | None] | None:
    """``+CSQ: 20,99`` -> (-73 dBm, None): 99 means unknown."""
    fields = _fields(line, "+CSQ:")
    if not fields or len(fields) < 2 or not fields[0].isdigit():
        return None
    rssi, ber = int(fields[0]), fields[1]
    dbm = None if rssi == 99 else -113 + 2 * rssi
    return dbm, (None if ber in ("99", "") else int(ber))


def parse_qcsq(line: str) -> dict[str, object] | None:
    """``+QCSQ: "eMTC",-71,-93,160,-10`` -> sysmode and values (dBm, SINR in 1/5 dB steps)."""
    fields = _fields(line, "+QCSQ:")
    if not fields:
        return None
    out: dict[str, object] = {"sysmode": fields[0]}
    values = []
    for f in fields[1:]:
        try:
            values.append(int(f))
        except ValueError:
            return out
    if fields[0].upper() == "GSM" and values:
        out["rssi_dbm"] = values[0]
    elif len(values) >= 4:
        out.update(rssi_dbm=values[0], rsrp_dbm=values[1], sinr_db=round(values[2] / 5 - 20, 1),
                   rsrq_db=values[3])
    # a power in dBm is below 0: 99 (or 255) is a "not known" the firmware left in, not a signal
    for key in ("rssi_dbm", "rsrp_dbm"):
        value = out.get(key)
        if isinstance(value, int) and value >= 0:
            del out[key]
    return out


def parse_qnwinfo(line: str) -> dict[str, object] | None:
    """``+QNWINFO: "CAT-M1","26202","LTE BAND 20",6300``; ``+QNWINFO: No Service``."""
    fields = _fields(line, "+QNWINFO:")
    if not fields:
        return None
    if len(fields) < 4:
        return {"act": None, "oper": None, "band": None, "channel": None}
    return {"act": fields[0], "oper": fields[1], "band": fields[2],
            "channel": int(fields[3]) if fields[3].isdigit() else None}


def parse_cgdcont(line: str) -> tuple[int, str, str] | None:
    """``+CGDCONT: 1,"IP","internet","0.0.0.0",0,0,0`` -> (1, 'IP', 'internet')."""
    fields = _fields(line, "+CGDCONT:")
    if not fields or len(fields) < 3 or not fields[0].isdigit():
        return None
    return int(fields[0]), fields[1], fields[2]


def parse_qcfg(line: str, key: str) -> str | None:
    """``+QCFG: "iotopmode",2`` -> ``2``."""
    fields = _fields(line, "+QCFG:")
    if not fields or len(fields) < 2 or fields[0].lower() != key.lower():
        return None
    return fields[1]


def parse_ipr(line: str) -> int | None:
    fields = _fields(line, "+IPR:")
    return int(fields[0]) if fields and fields[0].isdigit() else None


def parse_qpinc(line: str) -> tuple[int, int] | None:
    """``+QPINC: "SC",3,10`` -> (PIN tries left, PUK tries left)."""
    fields = _fields(line, "+QPINC:")
    if not fields or len(fields) < 3 or not (fields[1].isdigit() and fields[2].isdigit()):
        return None
    return int(fields[1]), int(fields[2])


# The access technology under each name the family uses for it: +QCSQ's sysmode (BG95/BG77
# "eMTC"/"NBIoT", BG96 "CAT-M1"/"CAT-NB1"; some firmware upper-cases them) and +QNWINFO's <Act>.
# One name each in what bg-pppd reports, whichever the module said.
TECHNOLOGY_NAMES = {
    "emtc": "CAT-M1", "cat-m1": "CAT-M1", "cat-m": "CAT-M1", "lte cat-m1": "CAT-M1", "lte-m": "CAT-M1",
    "nbiot": "CAT-NB1", "nb-iot": "CAT-NB1", "cat-nb1": "CAT-NB1", "cat-nb": "CAT-NB1", "nbiot1": "CAT-NB1",
    "gsm": "GSM", "gprs": "GPRS", "edge": "EDGE", "egprs": "EGPRS", "lte": "LTE",
}
LTE_TECHNOLOGIES = ("CAT-M1", "CAT-NB1", "LTE")


def technology(name: str | None) -> str | None:
    """``eMTC``, ``CAT-M1``, ``"EMTC"`` -> ``CAT-M1``; ``NBIoT``/``CAT-NB1`` -> ``CAT-NB1``; unknown
    names are kept as the module gave them, ``NOSERVICE``/empty -> None."""
    if not name:
        return None
    text = name.strip().strip('"')
    if text.upper() in ("NOSERVICE", "NO SERVICE", ""):
        return None
    return TECHNOLOGY_NAMES.get(text.lower(), text)


def technology_of_act(act: int | None) -> str | None:
    """A registration's <AcT> (+CEREG/+CGREG in mode 2, 27.007's numbers as +COPS has them) as the
    status names technologies; None when absent or unknown."""
    return technology(ACT_NAMES.get(act)) if act is not None else None


def parse_qcfg_band(line: str) -> tuple[int, int, int] | None:
    """``+QCFG: "band",0xf,0x100002000000000f0e189f,0x10004200000000090e189f`` -> the GSM, eMTC and
    NB-IoT masks (hex, ``0x`` or not); None when the line is not that form (fewer than 3 masks)."""
    fields = _fields(line, "+QCFG:")
    if not fields or len(fields) < 4 or fields[0].lower() != "band":
        return None
    try:
        return int(fields[1], 16), int(fields[2], 16), int(fields[3], 16)
    except ValueError:
        return None


def parse_qcfg_list(lines: list[str]) -> set[str]:
    """The settings ``AT+QCFG=?`` lists: ``+QCFG: "nwscanmode",(0,1,3),(0,1)`` -> ``nwscanmode``."""
    out = set()
    for line in lines:
        m = re.match(r'^\+QCFG:\s*"([^"]+)"', line)
        if m:
            out.add(m.group(1).lower())
    return out


def parse_cpsms(line: str) -> int | None:
    """``+CPSMS: 1,,,"00000100","00001111"`` -> 1 (PSM requested); 0 off."""
    fields = _fields(line, "+CPSMS:")
    return int(fields[0]) if fields and fields[0].isdigit() else None


def parse_cedrxs(line: str) -> tuple[int, str] | None:
    """``+CEDRXS: 4,"0101"`` -> (4, '0101'): eDRX requested on that AcT (4 LTE-M, 5 NB-IoT). An AcT of
    0 or a bare ``+CEDRXS:`` is no eDRX."""
    fields = _fields(line, "+CEDRXS:")
    if not fields or not fields[0].isdigit() or int(fields[0]) == 0:
        return None
    return int(fields[0]), fields[1] if len(fields) > 1 else ""
