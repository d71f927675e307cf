"""Doctor's checks for Codex: our hooks in ``hooks.json``, and whether Codex will run them
(trusted and enabled, asked of ``codex app-server`` itself)."""

from __future__ import annotations

import shlex
from pathlib import Path

from keito_skill.agents._hooks import check_hooks_file
from keito_skill.agents._records import Check
from keito_skill.agents.codex import install, paths

__all__ = ["checks"]


def checks(codex_bin_opt: str | None) -> list[Check]:
    """The hooks file's check, then (when it passes) the trust check."""
    from keito_skill.agents.codex.trust import CodexTrustError

    fix = f"keito-skill install --agent {install.AGENT} --yes"
    if codex_bin_opt:
        fix += f" --codex-bin {shlex.quote(str(Path(codex_bin_opt).expanduser().absolute()))}"
    path = paths.hooks_path()
    codex_bin = install.find_codex(codex_bin_opt)

    skipped: list[Check] = []

    def absent() -> Check | None:
        if not (paths.codex_home().exists() or codex_bin):
            skipped.append(Check("codex hooks", True, "Codex not found here; skipped"))
            return skipped[0]
        return None

    found, _ = check_hooks_file("codex hooks", path, fix, list(install.EVENTS), absent=absent)
    if not found.ok or skipped:
        return [found]
    out = [found]
    name = "codex hooks trusted"
    if codex_bin is None:
        where = f"at {codex_bin_opt}" if codex_bin_opt else "on PATH"
        out.append(
            Check(
                name,
                False,
                f"codex not found {where}: cannot tell whether Codex will run the hooks",
                "keito-skill doctor --codex-bin PATH (then follow its fix)",
            )
        )
        return out
    try:
        infos = install.our_hook_infos(codex_bin)
    except CodexTrustError as exc:
        out.append(Check(name, False, str(exc), fix))
        return out
    seen = {info.event for info in infos}
    if len(seen) < len(install.EVENTS):
        out.append(
            Check(
                name,
                False,
                f"Codex loads {', '.join(sorted(seen)) or 'none'} of our 3 hooks from {path} "
                "(hooks turned off in config.toml [features]?)",
                "enable hooks in $CODEX_HOME/config.toml, then " + fix,
            )
        )
        return out
    bad = [i for i in infos if not i.trusted or not i.enabled]
    if not bad:
        out.append(Check(name, True, f"{len(infos)} hooks trusted and enabled"))
        return out
    states = ", ".join(f"{i.event}: {i.trust_status if i.enabled else 'disabled'}" for i in bad)
    if all(i.trusted for i in bad):  # only disabled ones: trust cannot fix that
        remedy = "enable keito-skill's hooks in Codex's /hooks screen"
    else:
        remedy = fix
    out.append(Check(name, False, f"Codex will not run: {states}", remedy))
    return out
