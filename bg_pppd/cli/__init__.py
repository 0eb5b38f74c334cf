"""The bg-pppd command line and its sub-commands."""
