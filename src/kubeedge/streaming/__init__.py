"""Streaming protocols terminated by edged's kubelet-style server (issue 8): HTTP/1.1
heads, WebSocket channels, SPDY/3.1, port-forward, remote command, tunnel frames.

Edge-safe: stdlib and `websockets` only (ARCHITECTURE.md rule 9); nothing here imports
aiohttp or any cloud package.
"""
