"""The workspace's .git/ after a jailed session: the jail could write it (the agent commits and
diffs), so what in it runs commands when someone runs git on the host is put back as it was.

`.git/config` can name commands git runs by itself (core.fsmonitor, core.pager, core.sshCommand,
diff and merge drivers, filters, aliases, include.path), and `.git/hooks/` holds scripts it runs:
the config is restored from the copy taken before the jail started and every hook that is not a
`.sample` is deleted, after the jail is gone (nothing can race the restore).
"""
from __future__ import annotations

import shutil

from afr_box.orchestrator.external.workspace import Workspace


def git_state(ws: Workspace) -> bytes:
    config = ws.folder / ".git" / "config"
    return config.read_bytes() if config.is_file() else b""


def restore_git(ws: Workspace, config: bytes) -> None:
    """The jail could write .git/: its config back as it was (core.fsmonitor, core.pager, filters
    and aliases run commands when someone runs git here on the host) and no hook of its own."""
    git = ws.folder / ".git"
    if not git.is_dir() or git.is_symlink():
        return
    target = git / "config"
    if target.is_symlink() or target.exists():
        target.unlink()
    target.write_bytes(config)
    hooks = git / "hooks"
    if hooks.is_symlink():
        hooks.unlink()
    elif hooks.is_dir():
        for hook in hooks.iterdir():
            if not hook.name.endswith(".sample"):
                shutil.rmtree(hook) if hook.is_dir() and not hook.is_symlink() else hook.unlink()
