"""Scenarios that run inside the UML guest, as plain functions (see tests/uml.py, docs/ppp-lab.md).

A test on the host calls ``lab.call(up.happy_path, profile_text=PROFILE)``; the guest runs
``python -m tests.uml_scenarios WORK/call.json``, which imports the function's module and calls
``happy_path(WORK, profile_text=...)`` with the arguments decoded from the JSON file. A scenario
drives the lab with the helpers of tests/uml_guest.py and keeps what the host asserts on with
``record(...)``; the host reads it from WORK/results.json after power-off.

One module per test file: up, faults, connected, review, daemon, apn, network_ends, cold_start,
intervention, cmux, cmux_daemon, multiplexer, fleet (and demo).
"""
