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
@click.option("--base-image", default=None, help="OS/Python image to build on (default afr-os:bookworm, made if missing)")
@click.option("--force", is_flag=True, help="rebuild even if the image for this harness exists")
def image_build(base_image, force):
    """Build the base image (torch, NVFlare, the fixed harness) with no network.

    \b
    Examples:
      afr-box image build
      afr-box image build --base-image python:3.11-slim
    """
    from afr_box.sandbox.images import OS_IMAGE, build_base
    from afr_box.sandbox.providers import local_sandbox

    info = build_base(local_sandbox().images, os_image=base_image or OS_IMAGE, force=force,
                      progress=lambda m: click.echo(m, err=True))
    click.echo(f"{info.tags[0] if info.tags else ''} {info.id}")


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
