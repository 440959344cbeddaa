"""Auto-allocate activities (Adobe Admin API ``/activities/autoallocate``, v1).

An auto-allocate activity is stored as an A/B activity whose ``autoAllocate.enabled`` is true:
it shares the A/B validation, changelog, state/priority/schedule sub-resources and sticky
assignment, compiles as a remote activity, and ``cible.reports.tasks`` moves its traffic split
every hour. docs/reports.md, "Auto-allocate".
"""
