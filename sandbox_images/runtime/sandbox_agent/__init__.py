"""The agent of a persistent sandbox: commands, sessions, a Python kernel and file operations.

The container's main process (under tini) is `python3 -I -S
/opt/runyard/sandbox_agent.pyz serve`, root with only SETUID, SETGID, SETPCAP
and KILL. It outlives any one worker: the worker attaches to the container's
stdin and stdout, and a restarted worker attaches again, so sessions, kernels
and background servers keep running. Requests and replies are framed by
`protocol`; requests run concurrently, each on its own thread (`server`).

Everything sandboxed runs as the sandbox user through /opt/runyard/spawn (empty
capability bounding set, no privileges to regain). File operations run on a
thread whose filesystem identity (setfsuid/setfsgid) is the sandbox user's,
inside the container's own mount namespace: a symlink planted by sandboxed
code leads nowhere the sandbox user could not already go (`paths`).

The modules, by what they serve:

    protocol       framing of requests and replies, OpError, pushed events
    config         what the worker configured, and the agent's places
    processes      starting programs through the launcher, finding their processes
    commands       exec: one command to completion
    sessions       named bash sessions and their commands' logs
    kernel_bridge  the IPython kernel (/opt/runyard/kernel.py) as a child
    paths          path resolution and the sandbox user's filesystem identity
    transfers      uploads and downloads in chunks
    files          listing, stat, mkdir, delete, move, chmod, find, grep, replace, usage
    streams        terminals and TCP tunnels, their output pushed as events
    server         the operations table and the serve loop

The image ships this package as one zipapp, /opt/runyard/sandbox_agent.pyz,
with launcher.py (shared with the run agent, sandbox_images/base) at its root:
see the agent image's Dockerfile. Standard library only: it runs on the
image's own Python.
"""
