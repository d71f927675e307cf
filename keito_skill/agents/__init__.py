"""One package per coding agent: everything that knows that agent's files, hooks and names.

Only ``gemini_cli`` lives here so far; Claude Code and Codex move in with the adapter
refactor (issue 18), which adds the registry.
"""
