"""End-to-end tests that drive the real Claude Code and Codex binaries against a stub model API."""
