"""The tray's windows: widgets and signals only; the tray controller acts on them."""
