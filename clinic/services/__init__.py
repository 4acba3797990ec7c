"""Every write of the clinic app: keyword-only functions named ``<entity>_<action>``.

Each service checks the actor's permission for the clinic it writes to, validates, writes inside
its own transaction and records the audit event in that same transaction.
"""
