"""Data usage and the Prometheus metrics file on a real link (UML lab; issue 19).

The guest's daemon counts what ppp0 carries and writes metrics.textfile; here, on the host,
the file is parsed by the Prometheus client library's own parser and its values are held
against ``status --json`` of the same moment; a restart goes on counting from the state dir.
"""

from __future__ import annotations

import json
from datetime import datetime

from prometheus_client.parser import text_string_to_metric_families

from tests.test_up_uml import PROFILE
from tests.uml import skip_without_uml
from tests.uml_scenarios import fleet

pytestmark = skip_without_uml()

FLEET = PROFILE.replace("  port: {work}/bg95\n", "  port: {work}/bg95-at\n  data_port: {work}/bg95\n") + (
    "monitor:\n  interval: 30\n"  # the radio read at IP up; no later rewrite between the looks
    "metrics:\n  textfile: {work}/metrics/bg-pppd-lab.prom\n  interval: 3\n")


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """{(sample name, labels without profile): value}, every sample labelled profile="lab"."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            assert s.labels.pop("profile") == "lab", s
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(found: dict, name: str, **labels: str) -> float:
    return found[(name, tuple(sorted(labels.items())))]


def epoch(iso: str) -> float:
    return datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S%z").timestamp()


def test_data_usage_and_metrics_match_status_and_survive_a_restart(lab):
    r = lab.call(fleet.usage_metrics_and_a_restart, profile_text=FLEET, timeout=240)
    st, found = r["during"], samples(r["metrics"])
    assert r["ping"] == 0, lab.tail()
    usage, life = st["data_usage"], st["lifetime"]
    # 20 echo requests of 1000 bytes of payload each way (plus headers): counted, both directions
    assert usage["total_received"] >= 20 * 1028 and usage["total_sent"] >= 20 * 1028, usage
    assert usage["connection_received"] == usage["total_received"] == st["bytes_month"]["received"] == \
        st["bytes_today"]["received"]
    # the file says what status says, sample by sample
    assert value(found, "bg_pppd_up") == 1 and value(found, "bg_pppd_state", state="connected") == 1
    assert value(found, "bg_pppd_state", state="waiting") == 0
    assert value(found, "bg_pppd_receive_bytes_total") == usage["total_received"]
    assert value(found, "bg_pppd_transmit_bytes_total") == usage["total_sent"]
    assert value(found, "bg_pppd_month_receive_bytes") == st["bytes_month"]["received"]
    assert value(found, "bg_pppd_day_transmit_bytes") == st["bytes_today"]["sent"]
    assert value(found, "bg_pppd_connections_total") == life["connections"] == 1
    assert value(found, "bg_pppd_connected_seconds_total") == life["connected_seconds"] > 0
    assert value(found, "bg_pppd_failed_attempts_total") == life["failed_attempts"]
    assert value(found, "bg_pppd_consecutive_failures") == st["consecutive_failures"]
    assert value(found, "bg_pppd_ladder_step") == st["resets"]
    assert abs(value(found, "bg_pppd_state_since_timestamp_seconds") - epoch(st["since"])) < 1
    assert value(found, "bg_pppd_registered") == 1
    assert value(found, "bg_pppd_radio_info", registration=st["registration"], operator=st["operator"],
                 access_technology=st["access_technology"], band=st["band"]) == 1
    for key, name in (("rssi_dbm", "bg_pppd_rssi_dbm"), ("rsrp_dbm", "bg_pppd_rsrp_dbm"),
                      ("sinr_db", "bg_pppd_sinr_db"), ("rsrq_db", "bg_pppd_rsrq_db")):
        assert value(found, name) == st["signal"][key], key
    # down, up again: the counts go on from the state dir
    assert r["down"] == 0 and r["rc"] == 0 and r["stopped"]["state"] == "stopped"
    before = r["stopped"]["data_usage"]
    assert before["total_received"] >= usage["total_received"]  # pppd's last line: what came after
    again = r["again"]
    assert again["lifetime"]["connections"] == 2, again
    assert again["data_usage"]["total_received"] >= before["total_received"]
    assert again["data_usage"]["connection_received"] < again["data_usage"]["total_received"]
    assert value(samples(r["metrics_again"]), "bg_pppd_connections_total") == 2
    assert r["down_again"] == 0 and r["rc_again"] == 0
    on_disk = json.loads(r["usage_file"])["usage"]
    assert on_disk["connections"] == 2 and on_disk["total_received"] >= again["data_usage"]["total_received"]
