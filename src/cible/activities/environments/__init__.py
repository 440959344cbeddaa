"""Environments (Adobe's host groups): Admin API ``/environments`` (v1).

Every tenant has Production (the default), Staging and Development, created with the tenant (and
on first use for tenants older than this table), plus any it adds. The artifact compiler builds
one ``rules.json`` per environment, named by ``Environment.artifact_name``; it reads them with
``service.list_environments(session, tenant_id)``.
"""
