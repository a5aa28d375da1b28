"""The publisher's release tool (``innova-release``): packing, signing and publishing
releases as static files.

A library on top of the feed and install sides, which it shares with the client so that
both apply the same rules: ``keys`` (signing keys), ``pack`` (deterministic zips and file
lists), ``delta`` (delta packages against earlier releases), and the feed workspace:
``workspace`` (its files and layout), ``catalogue`` (adding and changing releases),
``manifests`` (a channel's manifest from the catalogue), ``signing`` and ``publishing``
(TUF metadata; versioned files first, the timestamp last), ``verification`` (a published
feed checked as a client would) and ``repository`` (``FeedRepository``, the one object the
command line and the demo use). ``cli`` is the command line. Nothing in the
client (service, stages, machine, support) imports this package.
"""
