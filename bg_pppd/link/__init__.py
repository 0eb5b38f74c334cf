"""The PPP link: rendered files, pppd, the one-UART relay, link checks, DNS and hooks."""
