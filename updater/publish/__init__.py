"""The publisher's release tool (``innova-release``): packing, signing and publishing
releases as static files.

``keys`` (signing keys), ``pack`` (deterministic zips and file lists), ``delta`` (delta
packages against earlier releases) and ``repository`` (the feed workspace and its TUF
metadata) are a library on top of the feed and install sides, which they share with the
client so that both apply the same rules; ``cli`` is the command line. Nothing in the
client (service, stages, machine, support) imports this package.
"""
