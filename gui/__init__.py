"""The tray app for shop owners: thin PySide6 widgets over the updater's service facade."""
