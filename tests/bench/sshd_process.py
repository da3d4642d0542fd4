"""Run the test SSH git server in its own process, so a busy Python thread in the
measuring process cannot slow the server down. Prints one JSON line with the
port and key paths, then serves until stdin closes. Each line ``count`` read from
stdin is answered with one JSON line: the connections accepted so far, and the git
services run, in order."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from servers.sshgit import SSHGitServer


def main() -> None:
    root, workdir = Path(sys.argv[1]), Path(sys.argv[2])
    with SSHGitServer(root, workdir) as server:
        print(
            json.dumps(
                {
                    "port": server.port,
                    "client_key": str(server.client_key_path),
                    "known_hosts": str(server.known_hosts_path),
                    "url_prefix": f"ssh://git@127.0.0.1:{server.port}",
                }
            ),
            flush=True,
        )
        for line in sys.stdin:
            if line.strip() == "count":
                services = [command.split()[0] for command in server.commands if command]
                answer = {"connections": server.connections, "services": services}
                print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
