"""What a phase may leave in its /out folder, checked on the host before anything reads it.

A container's /out is the one place candidate code can write that the host later reads.
Only the files the fixed harness writes are allowed, as plain files (no symlinks, hardlinks,
fifos or devices): a symlink named model.npz would make the host, or the next container's
bind mount, open whatever it points at; an extra score.json next to the real outputs would be
a forgery waiting for a careless reader.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

# Per phase: files at the top of /out, and (for infer) the folder holding one file per site.
ALLOWED = {
    "train": {"model.npz", "train_stats.json"},
    "infer": {"infer_stats.json", "predictions"},
    "score": {"score.json"},
}
ALWAYS = {"init_violation.json"}  # written by the trusted init (sandbox/init.py)


def check_outputs(out: Path, phase: str, eval_sites: list[str]) -> str:
    """'' when `out` holds only what `phase` may write; otherwise the first problem found."""
    allowed = ALLOWED[phase] | ALWAYS
    site_files = {f"{site}.npy" for site in eval_sites}
    for folder, dirs, files in os.walk(out):
        rel_folder = Path(folder).relative_to(out)
        for name in sorted(dirs + files):
            rel = (rel_folder / name).as_posix()
            st = os.lstat(os.path.join(folder, name))
            if stat.S_ISLNK(st.st_mode):
                return f"{rel} is a symlink (to {os.readlink(os.path.join(folder, name))!r}); outputs must be plain files"
            is_dir = stat.S_ISDIR(st.st_mode)
            if not is_dir and not stat.S_ISREG(st.st_mode):
                return f"{rel} is a special file (mode {stat.filemode(st.st_mode)}); outputs must be plain files"
            if not is_dir and st.st_nlink != 1:
                return f"{rel} is a hardlink ({st.st_nlink} links); outputs must be plain files"
            expected = (rel in allowed and (is_dir == (rel == "predictions"))) or (
                rel.startswith("predictions/") and rel.count("/") == 1 and name in site_files and not is_dir)
            if not expected:
                return f"unexpected {'folder' if is_dir else 'file'} {rel} in the {phase} outputs " \
                       f"(the harness writes only {', '.join(sorted(ALLOWED[phase]))})"
    return ""
