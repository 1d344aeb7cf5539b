"""The local sandbox: AWS emulated by moto over HTTP, and booted build-instance stand-ins.

Nothing here talks to anything but 127.0.0.1 and the stand-ins' own link-local addresses.
"""
