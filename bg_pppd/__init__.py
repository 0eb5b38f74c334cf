"""bg-pppd: keeps a Quectel BG95/BG77/BG600L online over PPP."""

__version__ = "0.1.0"
