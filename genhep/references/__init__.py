"""Published reference tables shipped with genhep, one YAML file per paper table.

``genhep report --reference <name>`` (or ``report.reference: <name>`` in a run's config)
loads ``<name>.yaml`` from here; the schema is in :mod:`genhep.report.reference`.
"""
