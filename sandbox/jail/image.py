"""The jail image `afr-jail:<digest>`: the base image + git + the in-jail client (+ the agent CLIs).

The in-jail modules (channel, client, forward, entry: standard library only) are copied in as the
package `afrjail`; `/usr/local/bin/afr-box` is the jail's client. The agent CLIs
(`@anthropic-ai/claude-code`, `@openai/codex`) are installed on the host with npm once (cached)
and copied in; both ship native binaries, so the image needs no Node. They are optional: without
npm, or with `agents=False`, the image has none (the `script` driver, and a driver given its own
executable with `--agent-bin`, still work). The tag is content-addressed: the base image id, the
Dockerfile, the in-jail modules and the agent CLIs' versions.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Callable, Optional

from afr_box.sandbox.errors import SandboxError
from afr_box.sandbox.images import LABEL_PREFIX, REPO_ROOT, cache_dir
from afr_box.sandbox.provider import ImageInfo, ImageStore
from afr_box.tasks.shared.hashing import hash_tree, sha256_file, tree_digest

DOCKERFILE = "Dockerfile.jail"
JAIL_DIR = Path(__file__).resolve().parent
IN_JAIL_MODULES = ("channel.py", "client.py", "forward.py", "entry.py")
AGENT_PACKAGES = ("@anthropic-ai/claude-code", "@openai/codex")
# The native executables those packages install (for this machine's platform), by the name they
# get in the image's /opt/afr-agent/bin: only these go into the image (no Node, no other platform).
AGENT_BINARIES = {
    "claude": ("@anthropic-ai/claude-code/bin/claude.exe", "@anthropic-ai/claude-code-linux-*/claude"),
    "codex": ("@openai/codex-linux-*/vendor/*/bin/codex",),
    "rg": ("@openai/codex-linux-*/vendor/*/codex-path/rg",),
}
REPOSITORY = "afr-jail"
LAUNCHER = """#!/opt/afr/bin/python3 -I
import sys
sys.path.insert(0, "/opt/afr-jail")
from afrjail.{module} import main
main()
"""
Progress = Callable[[str], None]


def agent_clis(progress: Progress = print) -> Optional[Path]:
    """The agent CLIs installed from npm into the cache (once); None when npm is missing or fails."""
    npm = shutil.which("npm")
    if npm is None:
        progress("npm not found: the jail image gets no agent CLIs (apt-get install -y npm to add them)")
        return None
    folder = cache_dir() / "agent-clis"
    wanted = "\n".join(AGENT_PACKAGES)
    if (folder / "packages.txt").is_file() and (folder / "packages.txt").read_text() == wanted:
        return folder
    progress(f"installing {', '.join(AGENT_PACKAGES)} from npm (once, cached)...")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    done = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--prefix", str(folder), *AGENT_PACKAGES],
                          capture_output=True, text=True)
    if done.returncode != 0:
        progress(f"npm install failed; the jail image gets no agent CLIs: {done.stderr.strip()[-300:]}")
        shutil.rmtree(folder, ignore_errors=True)
        return None
    (folder / "packages.txt").write_text(wanted)
    return folder


def _stage_binaries(modules: Path, dest: Path) -> None:
    for name, patterns in AGENT_BINARIES.items():
        found = [p for pattern in patterns for p in sorted(modules.glob(pattern)) if p.is_file()]
        if found:
            shutil.copy(found[0], dest / name)
            (dest / name).chmod(0o755)


def cli_versions(folder: Optional[Path]) -> dict[str, str]:
    versions = {}
    for package in AGENT_PACKAGES if folder else ():
        manifest = folder / "node_modules" / package / "package.json"
        if manifest.is_file():
            versions[package] = json.loads(manifest.read_text()).get("version", "?")
    return versions


def jail_tag(base: ImageInfo, versions: dict[str, str]) -> str:
    parts = {"base": base.id, "dockerfile": sha256_file(REPO_ROOT / DOCKERFILE), "agents": json.dumps(versions),
             **{f"jail/{k}": v for k, v in hash_tree(JAIL_DIR).items() if k in IN_JAIL_MODULES}}
    return f"{REPOSITORY}:{tree_digest(parts)[:16]}" + ("" if versions else "-bare")


def find_jail(images: ImageStore, base: ImageInfo) -> Optional[ImageInfo]:
    """The newest jail image of this base and these modules: with the agent CLIs if built, else bare."""
    clis = cache_dir() / "agent-clis"
    with_clis = cli_versions(clis) if (clis / "packages.txt").is_file() else {}
    for versions in ([with_clis] if with_clis else []) + [{}]:
        info = images.image_info(jail_tag(base, versions))
        if info is not None:
            return info
    return None


def build_jail(images: ImageStore, base: ImageInfo, agents: bool = True, progress: Progress = print,
               force: bool = False) -> ImageInfo:
    clis = agent_clis(progress) if agents else None
    versions = cli_versions(clis)
    tag = jail_tag(base, versions)
    existing = images.image_info(tag)
    if existing and not force:
        progress(f"jail image {tag} is up to date ({existing.id[:19]})")
        return existing
    with tempfile.TemporaryDirectory(dir=cache_dir()) as tmp:
        context = Path(tmp)
        shutil.copy(REPO_ROOT / DOCKERFILE, context / DOCKERFILE)
        (context / "agents" / "bin").mkdir(parents=True)
        if clis is not None:
            progress("copying the agent CLIs' executables into the build context...")
            _stage_binaries(clis / "node_modules", context / "agents" / "bin")
        package = context / "afrjail"
        package.mkdir()
        (package / "__init__.py").write_text('"""afr-box\'s in-jail modules (sandbox/jail/ on the host)."""\n')
        for module in IN_JAIL_MODULES:
            shutil.copy(JAIL_DIR / module, package / module)
        (context / "bin").mkdir()
        (context / "bin" / "afr-box").write_text(LAUNCHER.format(module="client"))
        (context / "bin" / "afr-jail-entry").write_text(LAUNCHER.format(module="entry"))
        progress(f"building {tag} from {base.tags[0] if base.tags else base.id[:19]}"
                 f" ({'agent CLIs: ' + ', '.join(f'{k} {v}' for k, v in versions.items()) if versions else 'no agent CLIs'})...")
        try:
            image_id = images.build_image(
                context, DOCKERFILE, tag, buildargs={"BASE_IMAGE": base.id},
                labels={f"{LABEL_PREFIX}kind": "jail", f"{LABEL_PREFIX}base-id": base.id,
                        f"{LABEL_PREFIX}agents": json.dumps(versions)}, network=True)
        except SandboxError as exc:
            raise SandboxError(f"the jail image did not build ({exc}); apt needs the Debian mirror") from None
    progress(f"built {tag} ({image_id[:19]})")
    return images.image_info(image_id)


def jail_agents(image: ImageInfo) -> dict[str, str]:
    """The agent CLIs (and versions) a jail image holds."""
    return json.loads(image.labels.get(f"{LABEL_PREFIX}agents", "{}"))
