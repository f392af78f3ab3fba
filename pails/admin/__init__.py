"""The admin API: what IAM does not cover (accounts, quotas, usage, server
information), JSON over HTTP on the admin port (``pails server
--admin-address``, default 127.0.0.1:9001), beside the console, metrics and
health checks.  ``routes.py`` names every operation once; docs/admin-api.md."""
