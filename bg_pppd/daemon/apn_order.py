"""Which APN an attempt sets, pure: the profile's list, what worked per SIM, the last failure.

``network.apn`` is a list tried in order ("" lets the network pick). The APN that brought IP
up is remembered per SIM (ICCID) and tried first; after a failure that can be the APN's fault
the next one in the order is tried, round-robin (a whole round failing changes nothing but
where the next round starts: the recovery ladder counts failures as always). Plain values
in, a new value out: the supervisor keeps the one current ``ApnState`` and swaps it, so a
pre-flight worker that asks ``choose`` sees one consistent state.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from bg_pppd.util.errors import EXIT_DENIED, EXIT_NOT_REGISTERED

MAX_SIMS = 16  # SIMs remembered; a device that saw more forgets the one that worked longest ago

# pppd's exits before IP up that the network's answer to the APN can cause (pppd(8) EXIT STATUS)
APN_DIAL_EXITS = {
    8: "the dial failed",            # chat got NO CARRIER / ERROR to ATD*99#: PDN connectivity rejected
    10: "PPP negotiation failed",    # IPCP refused or timed out: the module had no PDN to give an address
    16: "the module hung up",        # the call dropped before IP: the network released the bearer
}


def dial_failure_blames_apn(pppd_exit: int | None) -> bool:
    """Whether a dial that ended before IP up may be the APN's fault.

    Yes for the exits above: the module answers ``NO CARRIER`` when the network rejects the
    PDN connectivity request (ESM cause 27, missing or unknown APN; 33, not subscribed), and
    IPCP fails or the call drops when no bearer comes up. No for the rest: option and
    permission errors, a locked or unopenable port (6, 7), authentication (19: the
    credentials are the profile's whatever the APN), a kill (ours: stop, stuck dial).
    """
    return pppd_exit in APN_DIAL_EXITS


def preflight_failure_blames_apn(exit_code: int, context_set: bool) -> bool:
    """Whether a failed pre-flight may be the APN's fault: registration denied or not
    registered, and only once this attempt has set the context (``context_set``): on LTE the
    attach carries context 1's APN and a network may refuse the attach (EMM cause 19, ESM
    failure) for an APN it rejects. A SIM problem, a port problem or a module not answering
    say nothing about the APN, and neither does a registration failing before the context
    was written (the APN played no part in it).
    """
    return context_set and exit_code in (EXIT_DENIED, EXIT_NOT_REGISTERED)


def order(apns: tuple[str, ...], remembered: str | None) -> tuple[str, ...]:
    """The order for one SIM: its remembered APN first (if still in the list), then the list."""
    if remembered is None or remembered not in apns:
        return apns
    return (remembered, *(a for a in apns if a != remembered))


@dataclass(frozen=True)
class ApnState:
    """The profile's APNs, the APN that worked per ICCID, and where the rotation stands.

    ``sim``/``upcoming``: the SIM the rotation is for and the APN its next attempt sets;
    another SIM (a swap, or no ICCID read: None) starts from its own order's first.
    """

    apns: tuple[str, ...]
    remembered: Mapping[str, str] = field(default_factory=dict)  # ICCID -> APN, oldest first
    sim: str | None = None
    upcoming: str | None = None

    def __post_init__(self) -> None:
        if not self.apns:
            object.__setattr__(self, "apns", ("",))

    def order_for(self, iccid: str | None) -> tuple[str, ...]:
        return order(self.apns, self.remembered.get(iccid) if iccid else None)

    def choose(self, iccid: str | None) -> str:
        """The APN the next attempt on SIM ``iccid`` sets."""
        if iccid == self.sim and self.upcoming in self.apns:
            return self.upcoming  # type: ignore[return-value]
        return self.order_for(iccid)[0]

    def failed(self, iccid: str | None, apn: str) -> ApnState:
        """After a failure the APN may have caused: the one after ``apn`` in the SIM's order,
        wrapping round (an APN no longer in the list: the order starts over)."""
        seq = self.order_for(iccid)
        following = seq[(seq.index(apn) + 1) % len(seq)] if apn in seq else seq[0]
        return replace(self, sim=iccid, upcoming=following)

    def worked(self, iccid: str | None, apn: str) -> ApnState:
        """IP came up with ``apn``: remembered for this SIM (a SIM without ICCID is not), and
        set again by the next attempt."""
        memory = dict(self.remembered)
        if iccid and apn in self.apns:
            memory.pop(iccid, None)  # most recent last: the oldest goes first when full
            memory[iccid] = apn
            while len(memory) > MAX_SIMS:
                del memory[next(iter(memory))]
        return replace(self, remembered=memory, sim=iccid, upcoming=apn)
