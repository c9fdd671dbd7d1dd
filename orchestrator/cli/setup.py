"""`afr-box image`, `afr-box data`, `afr-box tasks`: the base image and the prepared data."""
from __future__ import annotations

from pathlib import Path

import click
import yaml

from afr_box.orchestrator.cli.options import DATA_ROOT, JSON, data_root_or_default, echo_json


@click.group()
def image():
    """Build the OS and base images."""


@image.command("os")
def image_os():
    """Make the local OS base image (debootstrap + import; needs root and no registry).

    \b
    Example:
      afr-box image os
    """
    from afr_box.sandbox.images import make_os_image
    from afr_box.sandbox.providers import local_sandbox

    info = make_os_image(local_sandbox().images, progress=lambda m: click.echo(m, err=True))
    click.echo(info.id)


@image.command("build")
@click.option("--base-image", default=None, envvar="AFR_BASE_IMAGE", show_envvar=True,
              help="image to build on, present locally (default afr-os:bookworm, made if missing); one with a "
                   "torch of its own (a CUDA PyTorch image) keeps it. Campaigns use the base of $AFR_BASE_IMAGE")
@click.option("--force", is_flag=True, help="rebuild even if the image for this harness exists")
def image_build(base_image, force):
    """Build the base image (torch, NVFlare, the fixed harness) with no network.

    \b
    Examples:
      afr-box image build
      afr-box image build --base-image python:3.11-slim
      afr-box image build --base-image my-cuda-pytorch:py311
    """
    from afr_box.sandbox.images import build_base, default_os_image
    from afr_box.sandbox.providers import local_sandbox

    info = build_base(local_sandbox().images, os_image=base_image, force=force,
                      progress=lambda m: click.echo(m, err=True))
    if base_image and base_image != default_os_image():
        click.echo(f"notice: campaigns use this base when AFR_BASE_IMAGE={base_image} is set", err=True)
    click.echo(f"{info.tags[0] if info.tags else ''} {info.id} (torch {info.labels.get('afr.torch', '?')} from "
               f"{info.labels.get('afr.torch-source', '?')})")


@image.command("jail")
@click.option("--agents/--no-agents", default=True, show_default=True,
              help="install the agent CLIs (@anthropic-ai/claude-code, @openai/codex) from npm into it (cached); "
                   "--no-agents: the script driver and --agent-bin only, built in seconds")
@click.option("--force", is_flag=True, help="rebuild even if the jail image of this base exists")
def image_jail(agents, force):
    """Build the agent jail image (`afr-box agent run`): the base image + git + the in-jail afr-box
    client (+ the agent CLIs). Its package step reaches the Debian mirror; nothing else does.

    \b
    Examples:
      afr-box image jail
      afr-box image jail --no-agents
    """
    from afr_box.sandbox.images import find_base
    from afr_box.sandbox.jail.image import build_jail, jail_agents
    from afr_box.sandbox.providers import local_sandbox

    images = local_sandbox().images
    info = build_jail(images, find_base(images), agents=agents, force=force, progress=lambda m: click.echo(m, err=True))
    clis = ", ".join(f"{k} {v}" for k, v in jail_agents(info).items()) or "no agent CLIs"
    click.echo(f"{info.tags[0] if info.tags else ''} {info.id} ({clis})")


@click.group()
def data():
    """Prepare task data (test labels kept apart from test inputs)."""


@data.command("prepare")
@click.argument("task")
@click.option("--source", type=click.Path(path_type=Path), default=None, help="folder with the original files")
@click.option("--download", is_flag=True, help="download from the public source (checksummed)")
@click.option("--option", "options", multiple=True, metavar="KEY=VALUE",
              help="a data option of the task's bridge (repeatable), e.g. weights=FILE for isic")
@DATA_ROOT
def data_prepare(task, source, download, options, data_root):
    """Verify and prepare TASK's data into DATA_ROOT/TASK.

    Bridges stream (a bounded chunk of a site in memory, whatever the data size) and show their
    progress on a terminal; the folder appears only when complete (an interrupted prepare leaves
    none that verifies: run it again).

    \b
    Examples:
      afr-box data prepare synthetic
      afr-box data prepare heart --source ../shared/data/flamby/fed_heart_disease
      afr-box data prepare isic --source DIR --option weights=b0.pth
    """
    from afr_box.orchestrator.data import prepare_task
    from afr_box.profiles.schema import load_profile

    profile = load_profile(task)
    extra = {}
    for item in options:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r}: expected KEY=VALUE", param_hint="--option")
        extra[key] = yaml.safe_load(value) if value else ""
    from afr_box.orchestrator.cli.prepare_progress import progress_bar
    from afr_box.tasks.shared.progress import reporting

    with progress_bar() as bar, reporting(bar):
        dest = prepare_task(profile, data_root_or_default(data_root), source, download, extra)
    click.echo(f"prepared {task} at {dest}")


@click.command("tasks")
@DATA_ROOT
@JSON
def tasks_cmd(data_root, as_json):
    """List tasks and whether their data is ready.

    \b
    Examples:
      afr-box tasks
      afr-box tasks --json
    """
    from afr_box.orchestrator.data import data_status, how_to_get
    from afr_box.profiles.schema import available_tasks, load_profile

    root = data_root_or_default(data_root)
    found = []
    for task in available_tasks():
        profile = load_profile(task)
        status = data_status(profile, root)
        found.append({"task": task, "title": profile.title, "data": status.split(" ")[0], "detail": status,
                      "get_it": "" if status == "ready" else how_to_get(profile)})
    if as_json:
        echo_json(found)
        return
    for t in found:
        click.echo(f"{t['task']:12} {t['data']:8} {t['title']}")
        if t["get_it"]:
            click.echo(f"{'':12} {'':8} get it: {t['get_it']}")


COMMANDS = (image, data, tasks_cmd)
