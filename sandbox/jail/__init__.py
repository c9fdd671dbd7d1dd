"""The agent jail: a container for an external coding agent that sees its workspace and nothing else.

Host side (knows no campaign, like the rest of `sandbox/`):

    spec.py     JailSpec and `jail_container_args`: the one place the jail's hardening is applied
    image.py    the jail image (`afr-jail:<digest>`): the base image + git + the in-jail client
                (+ the agent CLIs from npm, when they install)
    proxy.py    the egress proxy: an allow-listing HTTPS CONNECT proxy on a Unix socket
    run.py      run a jail container to its end, its stdout streamed to a file

In the jail (standard library only: copied into the image as the package `afrjail`):

    channel.py  the wire format between the jail and `afr-box agent serve` (both sides use it)
    client.py   the jail's `afr-box`: try, check, status, literature over the channel socket
    forward.py  127.0.0.1:3128 in the jail -> the egress proxy's socket (the jail has no network)
    entry.py    the jail's entry point: starts the forwarder, then the agent

The jail has no network interface at all (`network_mode: none`): its only ways out are the two
Unix sockets the host mounts into it, one to the channel server, one to the egress proxy.
"""
