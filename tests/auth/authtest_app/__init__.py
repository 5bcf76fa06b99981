"""A small app whose resources exercise the auth app's protection."""
