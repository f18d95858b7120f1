"""Django's SQLite backend with foreign-key checks after migrations narrowed to what changed."""
