"""One capture per rule where it fires and one where it must not (see README.md here)."""
