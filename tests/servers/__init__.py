"""Real servers on loopback for the tests: SSH git (asyncssh and OpenSSH's sshd),
smart-HTTP git, PostgreSQL, and an HTTP receiver for alerts. Each module starts one
kind; ``_process`` holds what they share (free ports, killing a process group)."""
