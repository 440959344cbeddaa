"""Reports: event aggregation from the delivery log, experiment statistics, auto-allocation.

Public API: :mod:`cible.reports.stats` (pure statistics). docs/reports.md describes the report
endpoints and every statistic.
"""
