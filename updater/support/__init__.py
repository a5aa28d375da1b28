"""Support: ``doctor`` (checks that say what is wrong and how to fix it) and ``report``
(the redacted support bundle and its upload).

May import every stage below the service (feed, install, machine), the foundation, the
platform and the core; never the service or anything above it.
"""
