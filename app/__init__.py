"""The Panel explorable built on toycore. Entry point: app.main.build_app."""
